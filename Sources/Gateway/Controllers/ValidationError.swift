/// A field of a request that Wharf cannot take, said so that the caller knows what to change. The
/// HTTP layer answers it as a problem that names the field (``ProblemConvertible``).
enum ValidationError: Error, Equatable {
    /// A required field is absent or empty (400).
    case missing(field: String, detail: String)
    /// A field's value is not one Wharf allows (422).
    case invalid(field: String, detail: String)
}
