import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Keeps `DATA_DIR` readable by Wharf's user only, whatever the umask: the folder 0700, every
/// file 0600 (the database and its WAL hold webhook secrets and message state). Files from an
/// earlier version, or copied in, are fixed at start-up, with a log line.
enum PrivateDataDirectory {
    /// Creates `path` (0700) and makes what is already in it private; sets the process's umask so
    /// that files created from now on (SQLite's `-wal` and `-shm` among them) are private too.
    ///
    /// - Returns: the paths whose modes were fixed.
    @discardableResult
    static func prepare(_ path: String, logger: Logger) throws -> [String] {
        umask(0o077)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var fixed: [String] = []
        func tighten(_ item: String, to mode: Int) {
            guard let current = (try? FileManager.default.attributesOfItem(atPath: item))?[.posixPermissions] as? Int,
                current & 0o077 != 0
            else { return }
            if (try? FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: item)) != nil { fixed.append(item) }
        }
        tighten(path, to: 0o700)
        if let walker = FileManager.default.enumerator(atPath: path) {
            while let relative = walker.nextObject() as? String {
                let item = (path as NSString).appendingPathComponent(relative)
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory) else { continue }
                tighten(item, to: isDirectory.boolValue ? 0o700 : 0o600)
            }
        }
        if !fixed.isEmpty {
            logger.notice(
                "made DATA_DIR private: other users could read these (now 0700 folders, 0600 files)",
                metadata: ["count": "\(fixed.count)", "first": "\(fixed.first ?? "")"])
        }
        return fixed
    }
}
