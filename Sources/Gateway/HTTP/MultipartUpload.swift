import Foundation
import Hummingbird
import MultipartKit
import NIOCore
import WharfCore

/// A `multipart/form-data` request read as it streams in (multipart-kit's parser): its text
/// fields into memory, bounded, and its one file part straight into a private file, its size
/// checked as it grows. A file of 100 MiB never sits in memory.
struct MultipartUpload {
    var fields: [String: String] = [:]
    /// The file part's bytes on disk, its name and type as the client gave them, and its size.
    var file: URL?
    var fileName: String?
    var contentType: String?
    var size = 0

    /// The form's fields together.
    static let fieldLimit = 64 << 10
    /// What a body may hold besides its file.
    static let overhead = 1 << 20

    /// The boundary of a `multipart/form-data` content type, or `nil` for any other type.
    static func boundary(of contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        return parameter("boundary", in: contentType)
    }

    /// Reads the request, writing the part named `file` (or any part with a file name) to
    /// `destination`; more than `limit` bytes of file is a 413, a malformed body a 400.
    static func read(_ request: Request, boundary: String, into destination: URL, limit: Int) async throws -> MultipartUpload {
        let collector = try Collector(destination: destination, limit: limit)
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in collector.header(name, value) }
        parser.onBody = { buffer in collector.body(&buffer) }
        parser.onPartComplete = { collector.completePart() }
        do {
            // Everything but the file (fields, part headers, boundaries) stays within a small allowance.
            var total = 0
            for try await buffer in request.body {
                total += buffer.readableBytes
                guard total <= limit + overhead else { throw Problem.contentTooLarge(limit: limit + overhead) }
                try parser.execute(buffer)
                if let failure = collector.failure { throw failure }
            }
            try collector.close()
        } catch {
            try? collector.close()
            try? FileManager.default.removeItem(at: destination)
            if error is Problem { throw error }
            throw Problem.badRequest("the multipart/form-data body could not be read: \(error)")
        }
        if collector.upload.file == nil { try? FileManager.default.removeItem(at: destination) }
        return collector.upload
    }

    /// `name="value"` (or unquoted) in a header value such as Content-Disposition.
    static func parameter(_ name: String, in header: String) -> String? {
        for part in header.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == name else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }

    /// What the parser's callbacks fill in (they cannot throw, so a failure is kept for later).
    private final class Collector {
        var upload = MultipartUpload()
        var failure: Problem?
        private var headers: [String: String] = [:]
        private var field: [UInt8] = []
        private var fieldBytes = 0
        private var writing: FileHandle?
        private var pending = Data()
        static let writeSize = 64 << 10
        private var isFilePart: Bool?
        private let destination: URL
        private let limit: Int

        init(destination: URL, limit: Int) throws {
            self.destination = destination
            self.limit = limit
        }

        func header(_ name: String, _ value: String) { headers[name.lowercased()] = value }

        func body(_ buffer: inout ByteBuffer) {
            guard failure == nil else { return }
            if isFilePart == nil { startPart() }
            if isFilePart == true {
                upload.size += buffer.readableBytes
                guard upload.size <= limit else {
                    failure = Problem.contentTooLarge(limit: limit)
                    return
                }
                // The parser hands over short slices (it splits at every CR): they are gathered into
                // 64 KiB writes.
                pending.append(contentsOf: buffer.readableBytesView)
                if pending.count >= Self.writeSize { flush() }
            } else {
                field += buffer.readableBytesView
                fieldBytes += buffer.readableBytes
                if fieldBytes > MultipartUpload.fieldLimit {
                    failure = Problem.badRequest("the form's fields are longer than \(MultipartUpload.fieldLimit) bytes together")
                }
            }
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }

        func completePart() {
            if isFilePart == nil { startPart() }
            let name = headers["content-disposition"].flatMap { MultipartUpload.parameter("name", in: $0) } ?? ""
            if isFilePart == false, !name.isEmpty { upload.fields[name] = String(decoding: field, as: UTF8.self) }
            flush()
            try? writing?.close()
            writing = nil
            headers = [:]
            field = []
            isFilePart = nil
        }

        func close() throws {
            flush()
            try writing?.close()
            writing = nil
        }

        private func flush() {
            guard !pending.isEmpty, let writing else { return }
            do {
                try writing.write(contentsOf: pending)
            } catch {
                failure = Problem(.internalServerError, detail: "the uploaded file could not be stored")
            }
            pending.removeAll(keepingCapacity: true)
        }

        /// A part with a file name, or named `file`, is the file; only one is taken.
        private func startPart() {
            let disposition = headers["content-disposition"] ?? ""
            let name = MultipartUpload.parameter("name", in: disposition)
            let fileName = MultipartUpload.parameter("filename", in: disposition)
            guard fileName != nil || name == "file" else {
                isFilePart = false
                return
            }
            guard upload.file == nil else {
                failure = Problem.badRequest("send one file per message (the form has more than one)")
                isFilePart = false
                return
            }
            guard let handle = try? PrivateFile.create(destination) else {
                failure = Problem(.internalServerError, detail: "the uploaded file could not be stored")
                isFilePart = false
                return
            }
            writing = handle
            upload.file = destination
            upload.fileName = fileName.flatMap { $0.isEmpty ? nil : $0 }
            upload.contentType = headers["content-type"]
            isFilePart = true
        }
    }
}
