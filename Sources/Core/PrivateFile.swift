import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Files only the process's user may read, whatever the umask: received and sent media, uploads.
public enum PrivateFile {
    /// Creates (or truncates) `url` with mode 0600 and opens it for writing.
    public static func create(_ url: URL) throws -> FileHandle {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path, "reason": String(cString: strerror(errno))])
        }
        fchmod(descriptor, 0o600)
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }
}
