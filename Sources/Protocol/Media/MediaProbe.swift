import COpusFile
import CVideo
import CVips
import Foundation

/// What a file to send is, measured by well-kept libraries rather than by decoders of our own:
/// libvips for images (size, a JPEG thumbnail, WebP for stickers), libopusfile for voice notes,
/// FFmpeg for video and audio (duration, size) with ffmpegthumbnailer for a video's frame.
///
/// Every call reads from a file and keeps at most a thumbnail in memory.
public enum MediaProbe {
    /// The longer side of a message's inline thumbnail (WhatsApp's apps show it blurred while the
    /// file loads; Baileys uses 32 px, the apps larger).
    public static let thumbnailSize: Int32 = 72
    /// A sticker's side.
    public static let stickerSize: Int32 = 512

    public struct Image: Sendable, Equatable {
        public var width: Int
        public var height: Int
        /// A small JPEG, when one could be made.
        public var thumbnail: Data?
        /// Several frames (an animated WebP or GIF).
        public var isAnimated: Bool
    }

    public struct Timed: Sendable, Equatable {
        public var seconds: Int
        public var width: Int?
        public var height: Int?
        public var thumbnail: Data?
    }

    private static let started: Bool = wharf_vips_start() == 0

    /// An image's size and thumbnail.
    ///
    /// - Throws: ``MediaProbeError`` when libvips cannot read the file as an image.
    public static func image(at url: URL) throws(MediaProbeError) -> Image {
        guard started else { throw .unavailable("libvips did not start") }
        defer { wharf_vips_clear_error() }
        var width: Int32 = 0
        var height: Int32 = 0
        var pages: Int32 = 1
        guard wharf_vips_loader(url.path) != nil, wharf_vips_header(url.path, &width, &height, &pages) == 0 else {
            throw .unreadable("the file is not an image libvips can read")
        }
        var buffer: UnsafeMutableRawPointer?
        var length = 0
        var thumbnail: Data?
        if wharf_vips_jpeg_thumbnail(url.path, thumbnailSize, 50, &buffer, &length) == 0, let buffer {
            thumbnail = Data(bytes: buffer, count: length)
            wharf_vips_free(buffer)
        }
        return Image(width: Int(width), height: Int(height), thumbnail: thumbnail, isAnimated: pages > 1)
    }

    /// The image as a WebP sticker in `destination` (fitted into 512 × 512); a WebP already is one.
    public static func sticker(from url: URL, to destination: URL) throws(MediaProbeError) -> Image {
        guard started else { throw .unavailable("libvips did not start") }
        defer { wharf_vips_clear_error() }
        guard let loader = wharf_vips_loader(url.path) else { throw .unreadable("the file is not an image libvips can read") }
        if String(cString: loader).lowercased().contains("webp") {
            try? FileManager.default.removeItem(at: destination)
            do {
                try FileManager.default.copyItem(at: url, to: destination)
            } catch {
                throw .unreadable("the sticker could not be copied: \(error)")
            }
        } else if wharf_vips_webp(url.path, stickerSize, destination.path) != 0 {
            throw .unreadable("the image could not be turned into a WebP sticker: \(String(cString: wharf_vips_error()))")
        }
        var image = try Self.image(at: destination)
        image.thumbnail = nil
        return image
    }

    /// A voice note's length: it must be Ogg Opus, what WhatsApp's apps record and play as one.
    ///
    /// - Throws: ``MediaProbeError/unreadable(_:)`` for anything else, saying what to do.
    public static func voiceNote(at url: URL) throws(MediaProbeError) -> Timed {
        let milliseconds = wharf_opus_duration_ms(url.path)
        guard milliseconds >= 0 else {
            throw .unreadable(
                "a voice note must be Ogg Opus (audio/ogg; codecs=opus); convert it first (ffmpeg -i in -c:a libopus out.ogg) or send it as type 'audio'"
            )
        }
        return Timed(seconds: Int((milliseconds + 999) / 1000))
    }

    /// A video's or an audio file's length and (for video) size and thumbnail; `nil` parts when
    /// FFmpeg cannot tell.
    public static func timed(at url: URL, thumbnail wantsThumbnail: Bool) -> Timed {
        var milliseconds: Int64 = -1
        var width: Int32 = 0
        var height: Int32 = 0
        let kind = wharf_av_probe(url.path, &milliseconds, &width, &height)
        var timed = Timed(seconds: milliseconds > 0 ? Int((milliseconds + 999) / 1000) : 0)
        if kind == 1, width > 0, height > 0 {
            timed.width = Int(width)
            timed.height = Int(height)
            if wantsThumbnail, let image = wharf_video_thumbnail(url.path, thumbnailSize) {
                if let pointer = image.pointee.image_data_ptr, image.pointee.image_data_size > 0 {
                    timed.thumbnail = Data(bytes: pointer, count: Int(image.pointee.image_data_size))
                }
                wharf_video_free_image(image)
            }
        }
        return timed
    }
}

/// Why a file to send could not be measured.
public enum MediaProbeError: Error, Equatable, CustomStringConvertible {
    /// The file is not what its kind needs (the message says what to send instead).
    case unreadable(String)
    /// A library could not start.
    case unavailable(String)

    public var description: String {
        switch self {
        case .unreadable(let why), .unavailable(let why): why
        }
    }
}
