import Foundation

/// Real media files for tests, made by FFmpeg's command-line tool (a test dependency, installed by
/// `scripts/install-deps.sh --test`) from its synthetic sources: a test pattern and a sine tone.
public enum MediaFixtures {
    public enum Kind: String, Sendable {
        /// A 640×480 JPEG.
        case jpeg
        /// A 300×200 PNG.
        case png
        /// Three seconds of Ogg Opus.
        case opus
        /// Two seconds of MP3 (not a voice note).
        case mp3
        /// Two seconds of 320×240 H.264 in MP4.
        case mp4

        var arguments: [String] {
            switch self {
            case .jpeg: ["-f", "lavfi", "-i", "testsrc=size=640x480", "-frames:v", "1"]
            case .png: ["-f", "lavfi", "-i", "testsrc=size=300x200", "-frames:v", "1"]
            case .opus: ["-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "libopus"]
            case .mp3: ["-f", "lavfi", "-i", "sine=duration=2", "-c:a", "libmp3lame"]
            case .mp4: ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
            }
        }

        var fileExtension: String {
            switch self {
            case .jpeg: "jpg"
            case .png: "png"
            case .opus: "ogg"
            case .mp3: "mp3"
            case .mp4: "mp4"
            }
        }
    }

    /// Makes a file of `kind` in `directory`.
    public static func make(_ kind: Kind, in directory: URL, name: String? = nil) async throws -> URL {
        let url = directory.appendingPathComponent((name ?? kind.rawValue) + "." + kind.fileExtension)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"] + kind.arguments + [url.path]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let status = await offThePool {
            process.waitUntilExit()
            return process.terminationStatus
        }
        guard status == 0 else {
            throw PeerProcess.PeerFailure(description: "ffmpeg could not make a \(kind) file (is ffmpeg installed?)")
        }
        return url
    }
}
