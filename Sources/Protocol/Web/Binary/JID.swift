/// A WhatsApp address: `user[.agent][:device]@server`.
///
/// Phone-number accounts live on `s.whatsapp.net`, their hidden-identity twins on `lid`, groups on
/// `g.us`. A device JID (`:device`) names one linked device of an account; device 0 is the phone.
public struct JID: Hashable, Sendable, CustomStringConvertible {
    public var user: String
    /// Raw agent byte; only meaningful on `s.whatsapp.net` (the other device domains encode it as 0).
    public var agent: UInt8
    public var device: UInt16
    public var server: String

    public static let userServer = "s.whatsapp.net"
    public static let hiddenUserServer = "lid"
    public static let groupServer = "g.us"
    public static let hostedServer = "hosted"
    public static let hostedLIDServer = "hosted.lid"
    /// The server itself, the usual `to` of an `<iq>`.
    public static let server = JID(user: "", server: userServer)

    public init(user: String, agent: UInt8 = 0, device: UInt16 = 0, server: String) {
        self.user = user
        self.agent = agent
        self.device = device
        self.server = server
    }

    /// Parses the text form; `nil` when there is no `@` or a number does not parse.
    public init?(_ text: String) {
        guard let at = text.lastIndex(of: "@") else { return nil }
        server = String(text[text.index(after: at)...])
        var userPart = Substring(text[..<at])
        device = 0
        agent = 0
        if let colon = userPart.lastIndex(of: ":") {
            guard let parsed = UInt16(userPart[userPart.index(after: colon)...]) else { return nil }
            device = parsed
            userPart = userPart[..<colon]
        }
        if server == Self.userServer || server == Self.hiddenUserServer, let dot = userPart.lastIndex(of: ".") {
            guard let parsed = UInt8(userPart[userPart.index(after: dot)...]) else { return nil }
            agent = parsed
            userPart = userPart[..<dot]
        }
        user = String(userPart)
    }

    public var description: String {
        var text = user
        if agent != 0 { text += ".\(agent)" }
        if device != 0 { text += ":\(device)" }
        return text + "@" + server
    }

    /// The account this device belongs to (device and agent dropped).
    public var account: JID { JID(user: user, server: server) }

    /// The device domain byte of the AD_JID form, or `nil` when this JID is written as a plain pair.
    var deviceDomain: UInt8? {
        switch server {
        case Self.userServer: return device != 0 || agent != 0 ? agent : nil
        case Self.hiddenUserServer: return device != 0 ? 1 : nil
        case Self.hostedServer: return 128
        case Self.hostedLIDServer: return 129
        default: return nil
        }
    }

    /// The inverse of `deviceDomain`.
    init(user: String, deviceDomain: UInt8, device: UInt16) {
        switch deviceDomain {
        case 1: self.init(user: user, device: device, server: Self.hiddenUserServer)
        case 128: self.init(user: user, device: device, server: Self.hostedServer)
        case 129: self.init(user: user, device: device, server: Self.hostedLIDServer)
        default: self.init(user: user, agent: deviceDomain, device: device, server: Self.userServer)
        }
    }
}
