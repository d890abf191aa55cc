import Crypto
import CryptoExtras
import Foundation
import WharfCore

/// Encrypts and decrypts media files as WhatsApp keeps them on its media hosts: AES-256-CBC
/// (PKCS#7) of the file, followed by the first 10 bytes of HMAC-SHA256(macKey, iv ‖ ciphertext).
///
/// Both directions stream file to file in fixed-size chunks (CBC chained by hand across them), so a
/// 100 MiB document never sits in memory, and hash what passes (SHA-256 of the plain and of the
/// encrypted file, which the message carries) on the way.
enum MediaCipher {
    /// Read size; a multiple of the AES block.
    static let chunkSize = 64 << 10
    static let macLength = 10

    /// What a message says about an encrypted file.
    struct Encrypted: Sendable, Equatable {
        var fileSHA256: [UInt8]
        var fileEncSHA256: [UInt8]
        /// Of the plain file.
        var fileLength: UInt64
        var encryptedLength: UInt64
    }

    /// What was checked and found of a decrypted file.
    struct Decrypted: Sendable, Equatable {
        var fileSHA256: [UInt8]
        var fileLength: UInt64
    }

    /// Encrypts `source` into `destination` (created 0600, replaced if it exists).
    static func encrypt(_ source: URL, to destination: URL, mediaKey: [UInt8], type: WAMediaType) throws(MediaFileError) -> Encrypted {
        let keys = MediaKeys(mediaKey: mediaKey, type: type)
        let key = SymmetricKey(data: keys.cipherKey)
        return try MediaFileError.wrapping {
            let input = try FileHandle(forReadingFrom: source)
            defer { try? input.close() }
            let output = try PrivateFile.create(destination)
            defer { try? output.close() }
            var mac = HMAC<SHA256>(key: SymmetricKey(data: keys.macKey))
            mac.update(data: keys.iv)
            var plainHash = SHA256()
            var encryptedHash = SHA256()
            var iv = keys.iv
            var length: UInt64 = 0
            var encryptedLength: UInt64 = 0
            func emit(_ block: Data) throws {
                let ciphertext = try AES._CBC.encrypt(block, using: key, iv: AES._CBC.IV(ivBytes: iv), noPadding: true)
                iv = Array(ciphertext.suffix(16))
                mac.update(data: ciphertext)
                encryptedHash.update(data: ciphertext)
                encryptedLength += UInt64(ciphertext.count)
                try output.write(contentsOf: ciphertext)
            }
            var pending = Data()
            while let chunk = try input.read(upToCount: chunkSize), !chunk.isEmpty {
                plainHash.update(data: chunk)
                length += UInt64(chunk.count)
                pending.append(chunk)
                let whole = pending.count - pending.count % 16
                if whole > 0 {
                    try emit(pending.prefix(whole))
                    pending = Data(pending.dropFirst(whole))
                }
            }
            let padding = 16 - pending.count % 16
            pending.append(contentsOf: [UInt8](repeating: UInt8(padding), count: padding))
            try emit(pending)
            let tag = Data(mac.finalize()).prefix(macLength)
            encryptedHash.update(data: tag)
            try output.write(contentsOf: tag)
            return Encrypted(
                fileSHA256: Array(plainHash.finalize()), fileEncSHA256: Array(encryptedHash.finalize()), fileLength: length,
                encryptedLength: encryptedLength + UInt64(macLength))
        }
    }

    /// Decrypts `source` (as downloaded) into `destination`, checking the MAC, and the hashes the
    /// message gave when it gave them. On any failure `destination` is removed: a file that did not
    /// check out is never left to be served.
    static func decrypt(
        _ source: URL, to destination: URL, mediaKey: [UInt8], type: WAMediaType, fileEncSHA256: [UInt8]? = nil, fileSHA256: [UInt8]? = nil
    ) throws(MediaFileError) -> Decrypted {
        let keys = MediaKeys(mediaKey: mediaKey, type: type)
        let key = SymmetricKey(data: keys.cipherKey)
        do {
            return try MediaFileError.wrapping { () throws(MediaFileError) -> Decrypted in
                let size = try MediaFileError.wrapping { try FileManager.default.attributesOfItem(atPath: source.path)[.size] as? UInt64 ?? 0 }
                guard size >= UInt64(16 + macLength), (size - UInt64(macLength)) % 16 == 0 else {
                    throw MediaFileError.corrupt("the encrypted file is \(size) bytes, not whole AES blocks and a MAC")
                }
                let (input, output) = try MediaFileError.wrapping { (try FileHandle(forReadingFrom: source), try PrivateFile.create(destination)) }
                defer {
                    try? input.close()
                    try? output.close()
                }
                var mac = HMAC<SHA256>(key: SymmetricKey(data: keys.macKey))
                mac.update(data: keys.iv)
                var plainHash = SHA256()
                var encryptedHash = SHA256()
                var iv = keys.iv
                var remaining = size - UInt64(macLength)
                var length: UInt64 = 0
                while remaining > 0 {
                    let chunk = try MediaFileError.wrapping { try input.readExactly(Int(min(UInt64(chunkSize), remaining))) }
                    remaining -= UInt64(chunk.count)
                    mac.update(data: chunk)
                    encryptedHash.update(data: chunk)
                    var plain = try MediaFileError.wrapping {
                        try AES._CBC.decrypt(chunk, using: key, iv: AES._CBC.IV(ivBytes: iv), noPadding: true)
                    }
                    iv = Array(chunk.suffix(16))
                    if remaining == 0 {
                        let padding = Int(plain.last ?? 0)
                        guard (1...16).contains(padding), plain.suffix(padding).allSatisfy({ Int($0) == padding }) else {
                            throw MediaFileError.corrupt("the decrypted file's padding is wrong")
                        }
                        plain.removeLast(padding)
                    }
                    plainHash.update(data: plain)
                    length += UInt64(plain.count)
                    try MediaFileError.wrapping { try output.write(contentsOf: plain) }
                }
                let tag = try MediaFileError.wrapping { try input.readExactly(macLength) }
                encryptedHash.update(data: tag)
                guard constantTimeEqual(Array(Data(mac.finalize()).prefix(macLength)), Array(tag)) else {
                    throw MediaFileError.corrupt("the file's MAC does not match its media key")
                }
                if let fileEncSHA256, Array(encryptedHash.finalize()) != fileEncSHA256 {
                    throw MediaFileError.corrupt("the downloaded file's SHA-256 is not the message's")
                }
                let digest = Array(plainHash.finalize())
                if let fileSHA256, digest != fileSHA256 {
                    throw MediaFileError.corrupt("the decrypted file's SHA-256 is not the message's")
                }
                return Decrypted(fileSHA256: digest, fileLength: length)
            }
        } catch {
            try? FileManager.default.removeItem(at: destination)
            throw error
        }
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// Why a media file could not be encrypted, fetched, checked or decrypted.
public enum MediaFileError: Error, Equatable, CustomStringConvertible {
    /// The file is not what its message says (bad MAC, hash or padding): fetching it again may help.
    case corrupt(String)
    /// Reading or writing a local file failed.
    case io(String)
    /// The media host answered with an error or could not be reached.
    case transfer(status: Int?, String)
    /// The message carries no usable media reference.
    case unusable(String)

    public var description: String {
        switch self {
        case .corrupt(let why), .io(let why), .unusable(let why): why
        case .transfer(let status?, let why): "the media host answered \(status): \(why)"
        case .transfer(nil, let why): why
        }
    }

    /// Runs `body`, turning anything it throws that is not already a ``MediaFileError`` into `.io`.
    static func wrapping<T>(_ body: () throws -> T) throws(MediaFileError) -> T {
        do {
            return try body()
        } catch let error as MediaFileError {
            throw error
        } catch {
            throw .io("\(error)")
        }
    }
}

extension FileHandle {
    /// Reads exactly `count` bytes, or throws at an early end of file.
    func readExactly(_ count: Int) throws -> Data {
        var data = Data()
        while data.count < count {
            guard let more = try read(upToCount: count - data.count), !more.isEmpty else {
                throw MediaFileError.io("the file ended early")
            }
            data.append(more)
        }
        return data
    }
}
