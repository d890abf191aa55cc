import Foundation
import GRDB

/// Opens Wharf's SQLite database the one way it should be opened.
///
/// WAL lets readers (consoles, metrics) run beside the single writer; `synchronous=FULL` makes every
/// commit reach the disk before it returns, which is what "accepted means never lost" rests on.
/// GRDB starts write transactions with `BEGIN IMMEDIATE`, so a writer waits for the lock at the
/// start rather than failing halfway; `busy_timeout` bounds that wait.
public enum SQLiteDatabase {
    /// Opens (creating if needed) a pool on the file at `path`.
    public static func openPool(at path: String, busyTimeout: TimeInterval = 5) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB switches the writer to NORMAL when it enables WAL, after `prepareDatabase`; the
        // writer connection lives as long as the pool, so setting FULL here makes it stick.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }

    /// An in-memory database for tests that do not need a file.
    public static func openInMemory() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        return try DatabaseQueue(configuration: configuration)
    }
}
