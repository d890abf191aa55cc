import Foundation
import PeerSupport
import Testing

@testable import WhatsAppProtocol

/// Sizes, durations and thumbnails of files to send, from real files FFmpeg made.
@Suite struct MediaProbeTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-probe-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    @Test func imagesGiveTheirSizeAndASmallJPEGThumbnail() async throws {
        let image = try await MediaProbe.image(at: try MediaFixtures.make(.jpeg, in: directory))
        #expect(image.width == 640)
        #expect(image.height == 480)
        let thumbnail = try #require(image.thumbnail)
        #expect(thumbnail.starts(with: [0xFF, 0xD8, 0xFF]), "a JPEG")
        #expect(thumbnail.count < 10_000)
        // The thumbnail is itself an image of at most 72 px.
        let file = directory.appendingPathComponent("thumb.jpg")
        try thumbnail.write(to: file)
        let small = try MediaProbe.image(at: file)
        #expect(max(small.width, small.height) == 72)
        #expect(!image.isAnimated)
    }

    @Test func aStickerBecomesA512WebP() async throws {
        let out = directory.appendingPathComponent("sticker.webp")
        let sticker = try await MediaProbe.sticker(from: try MediaFixtures.make(.png, in: directory), to: out)
        #expect(max(sticker.width, sticker.height) == 512)
        let bytes = try Data(contentsOf: out)
        #expect(bytes.prefix(4) == Data("RIFF".utf8) && bytes[8..<12] == Data("WEBP".utf8))
    }

    @Test func voiceNotesMustBeOggOpus() async throws {
        let voice = try await MediaProbe.voiceNote(at: try MediaFixtures.make(.opus, in: directory))
        #expect(voice.seconds == 3)
        let mp3 = try await MediaFixtures.make(.mp3, in: directory)
        let jpeg = try await MediaFixtures.make(.jpeg, in: directory)
        #expect(throws: MediaProbeError.self) { try MediaProbe.voiceNote(at: mp3) }
        let refusal = #expect(throws: MediaProbeError.self) { try MediaProbe.voiceNote(at: jpeg) }
        #expect(refusal?.description.contains("Ogg Opus") == true)
    }

    @Test func videosGiveDurationSizeAndAFrame() async throws {
        let video = await MediaProbe.timed(at: try MediaFixtures.make(.mp4, in: directory), thumbnail: true)
        #expect(video.seconds == 2)
        #expect(video.width == 320)
        #expect(video.height == 240)
        #expect(video.thumbnail?.starts(with: [0xFF, 0xD8, 0xFF]) == true)
        let audio = await MediaProbe.timed(at: try MediaFixtures.make(.mp3, in: directory), thumbnail: true)
        #expect(audio.seconds == 2 || audio.seconds == 3)
        #expect(audio.width == nil)
        #expect(audio.thumbnail == nil)
    }

    @Test func whatIsNotAnImageIsRefused() throws {
        let text = directory.appendingPathComponent("note.txt")
        try Data("not an image".utf8).write(to: text)
        #expect(throws: MediaProbeError.self) { try MediaProbe.image(at: text) }
    }
}
