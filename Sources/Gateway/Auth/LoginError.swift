/// Why a login was refused. The HTTP layer answers it as a problem (``ProblemConvertible``); the
/// dashboard's form shows its text instead.
public enum LoginError: Error, Equatable {
    /// Too many failures from this address or for this username lately.
    case tooManyAttempts(retryAfter: Int)
    /// No such username, or a wrong password (the two are not told apart).
    case wrongCredentials
    /// Every password check is busy and the queue for them is full: try again in a moment.
    case busy(retryAfter: Int)
}
