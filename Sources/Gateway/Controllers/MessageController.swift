import Foundation
import HTTPTypes
import Hummingbird
import Outbox
import WharfCore
import WhatsAppProtocol

/// Sending: validate, enqueue a job, answer 202 at once (`/v1/sessions/:id/messages`, and the
/// seed's `/sessions/:id/send` and `/api/sessions/:id/send-media` through ``LegacyController``);
/// jobs can be read and cancelled.
struct MessageController {
    let services: GatewayServices
    let lookup: Lookup
    let dispatcher: Dispatcher
    let media: MediaFetcher

    struct Input: Decodable {
        var chatId: String?
        var text: String?
        var type: String?
        var mediaUrl: String?
        var url: String?
        var caption: String?
        var filename: String?
        var replyTo: String?
        var humanize: JSONValue?
        /// An uploaded file's type, when its part does not say it.
        var mimeType: String?
        // Rich messages.
        var messageId: String?
        var emoji: String?
        var latitude: Double?
        var longitude: Double?
        var name: String?
        var address: String?
        var contacts: [ContactInput]?
        var poll: PollInput?
    }

    struct ContactInput: Decodable {
        var name: String
        var phone: String?
        var vcard: String?
    }

    struct PollInput: Decodable {
        var name: String
        var options: [String]
        var selectableCount: Int?
    }

    struct EditInput: Decodable {
        var text: String
    }

    struct View: ResponseEncodable {
        var jobId: String
        var status: JobStatus
        var sessionId: String
        var chatId: String
        var type: MessageType
        var text: String?
        var replyTo: String?
        var messageId: String?
        /// What a reaction, place, contact card, poll, edit or revoke sends.
        var payload: JobPayload?
        var error: String?
        var attempts: Int
        var createdAt: Date
        var sentAt: Date?

        init(_ job: JobRecord) {
            jobId = job.id
            status = job.status
            sessionId = job.sessionId
            chatId = job.chatId
            type = job.kind
            text = job.text
            replyTo = job.replyTo
            messageId = job.waMessageId
            payload = job.payload
            error = job.error
            attempts = job.attempts
            createdAt = job.createdAt
            sentAt = job.sentAt
        }
    }

    /// Adds the routes under `group`, which is `/v1`.
    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("sessions/:sessionId/messages", use: send)
        group.patch("sessions/:sessionId/messages/:messageId", use: editMessage)
        group.delete("sessions/:sessionId/messages/:messageId", use: revokeMessage)
        group.get("sessions/:sessionId/jobs", use: jobs)
        group.get("jobs/:jobId", use: job)
        group.post("jobs/:jobId/cancel", use: cancel)
    }

    // MARK: Handlers

    @Sendable func send(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<View> {
        try await enqueue(request, context: context, mediaExpected: nil)
    }

    /// Edits the text of a message this session sent (a job, like a send; `chatId` in the query).
    @Sendable func editMessage(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<View> {
        let input = try await request.decode(as: EditInput.self, context: context)
        guard !input.text.isEmpty, Validation.fits(input.text, characters: 65_536) else {
            throw Problem.unprocessable("field 'text' must be 1 to 65536 characters", field: "text")
        }
        return try await enqueueAbout(request, context: context, kind: .edit, text: input.text)
    }

    /// Deletes a message this session sent, for everyone (a job; `chatId` in the query).
    @Sendable func revokeMessage(_ request: Request, context: AppRequestContext) async throws -> EditedResponse<View> {
        try await enqueueAbout(request, context: context, kind: .revoke, text: nil)
    }

    /// A job about an earlier message (an edit or a revoke).
    private func enqueueAbout(
        _ request: Request, context: AppRequestContext, kind: MessageType, text: String?
    ) async throws
        -> EditedResponse<View>
    {
        let session = try await lookup.session(context)
        let messageID = try context.parameters.require("messageId")
        guard let rawChat = request.uri.queryParameters.get("chatId"), let chat = ChatAddress.normalize(String(rawChat)) else {
            throw Problem.badRequest(
                "query parameter 'chatId' is required: the chat the message is in (\(ChatAddress.acceptedForms))", field: "chatId")
        }
        try Self.requireSupport([kind], by: session.engine)
        var job = try await newJob(request, session: session, chat: chat, id: Identifier.make(prefix: "job"), humanize: nil)
        if let key = job.idempotencyKey,
            let earlier = try await services.store.job(idempotencyKey: key, tenantID: session.tenantId, now: job.createdAt)
        {
            return respond(earlier, replayed: true)
        }
        job.kind = kind
        job.text = text
        job.payload = JobPayload(messageId: try Self.messageID(messageID))
        return try await accept(job, session: session, request: request)
    }

    static func messageID(_ raw: String) throws -> String {
        guard (1...128).contains(raw.count), raw.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw Problem.unprocessable("'\(raw.prefix(40))' is not a WhatsApp message id", field: "messageId")
        }
        return raw
    }

    /// A queued text job to `chat` with a new client message id and the request's idempotency key.
    private func newJob(_ request: Request, session: SessionRecord, chat: ChatID, id: String, humanize: JSONValue?) async throws -> JobRecord {
        let now = services.clock.now
        return JobRecord(
            id: id, tenantId: session.tenantId, sessionId: session.id, chatId: chat.rawValue, kind: .text,
            text: nil, humanize: humanize ?? .object([:]),
            status: JobStatus.queued, clientMessageId: JobRecord.newClientMessageID(),
            idempotencyKey: try idempotencyKey(request), attempts: 0, createdAt: now, updatedAt: now)
    }

    /// A reaction, place, contact cards or poll, checked.
    private func richJob(_ job: JobRecord, type: MessageType, input: Input, engine: EngineKind) throws -> JobRecord {
        try Self.requireSupport([type], by: engine)
        var job = job
        job.kind = type
        var payload = JobPayload()
        switch type {
        case .reaction:
            guard let target = input.messageId else {
                throw Problem.badRequest("field 'messageId' is required: the message to react to", field: "messageId")
            }
            payload.messageId = try Self.messageID(target)
            let emoji = input.emoji ?? ""
            guard emoji.count <= 1, emoji.unicodeScalars.count <= 16 else {
                throw Problem.unprocessable("field 'emoji' must be one emoji, or empty to take a reaction back", field: "emoji")
            }
            payload.emoji = emoji
        case .location:
            guard let latitude = input.latitude, let longitude = input.longitude, (-90...90).contains(latitude), (-180...180).contains(longitude)
            else {
                throw Problem.unprocessable("fields 'latitude' (-90 to 90) and 'longitude' (-180 to 180) are required", field: "latitude")
            }
            for (name, value) in [("name", input.name), ("address", input.address)]
            where !(value.map { Validation.fits($0, characters: 1024) } ?? true) {
                throw Problem.unprocessable("field '\(name)' must be at most 1024 characters", field: name)
            }
            payload.location = Location(latitude: latitude, longitude: longitude, name: input.name, address: input.address)
        case .contact:
            guard let contacts = input.contacts, (1...20).contains(contacts.count) else {
                throw Problem.unprocessable("field 'contacts' must list 1 to 20 contacts, each with 'name' and 'phone' or 'vcard'", field: "contacts")
            }
            payload.contacts = try contacts.enumerated().map { index, contact in
                guard !contact.name.isEmpty, Validation.fits(contact.name, characters: 256) else {
                    throw Problem.unprocessable("field 'contacts[\(index)].name' must be 1 to 256 characters", field: "contacts")
                }
                if let vcard = contact.vcard {
                    guard vcard.hasPrefix("BEGIN:VCARD"), Validation.fits(vcard, characters: 16_384) else {
                        throw Problem.unprocessable("field 'contacts[\(index)].vcard' must be a vCard (BEGIN:VCARD …)", field: "contacts")
                    }
                    return ContactCard(name: contact.name, vcard: vcard)
                }
                guard let phone = contact.phone, let chat = ChatAddress.normalize(phone), !chat.isGroup, chat.rawValue.hasSuffix("@s.whatsapp.net")
                else {
                    throw Problem.unprocessable("field 'contacts[\(index)].phone' must be a phone number in international form", field: "contacts")
                }
                return ContactCard(name: contact.name, phone: chat.user)
            }
        case .poll:
            guard let poll = input.poll else { throw Problem.badRequest("field 'poll' is required: {name, options, selectableCount}", field: "poll") }
            let options = poll.options.map { $0.trimmingCharacters(in: .whitespaces) }
            guard !poll.name.isEmpty, Validation.fits(poll.name, characters: 255) else {
                throw Problem.unprocessable("field 'poll.name' must be 1 to 255 characters", field: "poll")
            }
            guard (2...12).contains(options.count), options.allSatisfy({ !$0.isEmpty && Validation.fits($0, characters: 100) }),
                Set(options).count == options.count
            else {
                throw Problem.unprocessable("field 'poll.options' must be 2 to 12 different options of 1 to 100 characters", field: "poll")
            }
            let selectable = poll.selectableCount ?? 1
            guard (0...options.count).contains(selectable) else {
                throw Problem.unprocessable("field 'poll.selectableCount' must be 0 (any number) to \(options.count)", field: "poll")
            }
            payload.poll = Poll(name: poll.name, options: options, selectableCount: selectable)
        default:
            throw Problem.unprocessable("field 'type': '\(type)' is sent through its own route", field: "type")
        }
        job.payload = payload
        return job
    }

    @Sendable func jobs(_ request: Request, context: AppRequestContext) async throws -> Page<View> {
        let session = try await lookup.session(context)
        let limit = try Pagination.limit(request)
        let before = request.uri.queryParameters.get("cursor").flatMap { Int64($0) }
        let jobs = try await services.store.jobs(sessionID: session.id, before: before, limit: limit)
        return Page(items: jobs.map(View.init), nextCursor: jobs.count == limit ? jobs.last?.seq.map(String.init) : nil)
    }

    @Sendable func job(_ request: Request, context: AppRequestContext) async throws -> View {
        let id = try context.parameters.require("jobId")
        guard let job = try await services.store.job(id: id, scope: try context.requireIdentity().scope) else {
            throw Problem.notFound("job '\(id)'")
        }
        return View(job)
    }

    @Sendable func cancel(_ request: Request, context: AppRequestContext) async throws -> View {
        let id = try context.parameters.require("jobId")
        switch try await dispatcher.cancel(jobID: id, scope: try context.requireIdentity().scope) {
        case nil:
            throw Problem.notFound("job '\(id)'")
        case .tooLate(let job, let isSending):
            throw Problem.conflict("job '\(id)' is \(isSending ? "being sent" : job.status.rawValue); only queued jobs can be cancelled")
        case .cancelled(let job):
            return View(job)
        }
    }

    /// Refuses a message the session's engine cannot send (one of `types` is enough).
    static func requireSupport(_ types: some Collection<MessageType>, by engine: EngineKind) throws {
        let supported = engine.capabilities.messageTypes
        guard !types.contains(where: supported.contains) else { return }
        let names = types.map(\.rawValue).sorted().joined(separator: ", ")
        let can = MessageType.allCases.filter(supported.contains).map(\.rawValue).joined(separator: ", ")
        throw Problem.unprocessable(
            "the \(engine) engine cannot send \(names) messages yet; it sends: \(can.isEmpty ? "nothing" : can)",
            field: types.contains(.text) ? "text" : "type")
    }

    /// - Parameter mediaExpected: `true` for the seed's send-media, `false` for its send, `nil` for /v1.
    func enqueue(_ request: Request, context: AppRequestContext, mediaExpected: Bool?) async throws -> EditedResponse<View> {
        let session = try await lookup.session(context)
        let capabilities = session.engine.capabilities
        let jobID = Identifier.make(prefix: "job")
        var input: Input
        var upload: MultipartUpload?
        if let boundary = MultipartUpload.boundary(of: request.headers[.contentType]) {
            try? FileManager.default.createDirectory(
                atPath: media.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let read = try await MultipartUpload.read(
                request, boundary: boundary, into: URL(fileURLWithPath: media.directory).appendingPathComponent(jobID),
                limit: MediaFetcher.sizeLimit(.document))
            upload = read
            input = try Input(form: read.fields)
        } else {
            input = try await request.decode(as: Input.self, context: context)
        }
        // An uploaded file not taken into a job is not left behind.
        var keepsUpload = false
        defer { if !keepsUpload, let file = upload?.file { try? FileManager.default.removeItem(at: file) } }
        guard let rawChat = input.chatId, !rawChat.isEmpty else {
            throw Problem.badRequest("field 'chatId' is required: \(ChatAddress.acceptedForms)", field: "chatId")
        }
        guard let chat = ChatAddress.normalize(rawChat) else {
            throw Problem.unprocessable("field 'chatId': '\(rawChat)' is not a chat id; use \(ChatAddress.acceptedForms)", field: "chatId")
        }
        guard capabilities.chatKinds.contains(EngineCapabilities.ChatKind(chat)) else {
            let kinds = EngineCapabilities.ChatKind.allCases.filter(capabilities.chatKinds.contains).map(Self.noun)
            throw Problem.unprocessable(
                "field 'chatId': the \(session.engine) engine sends to \(kinds.joined(separator: " and ")) only, not to '\(rawChat)'",
                field: "chatId")
        }
        let mediaURL = input.mediaUrl ?? input.url
        let richType = input.type.flatMap(MessageType.init(rawValue:)).flatMap { [.reaction, .location, .contact, .poll].contains($0) ? $0 : nil }
        let isMedia = mediaExpected ?? (upload?.file != nil || mediaURL != nil || (richType == nil && (input.type.map { $0 != "text" } ?? false)))
        var kind: MediaKind?
        if let type = input.type, type != "text", richType == nil {
            guard let parsed = MediaKind(rawValue: type) else {
                throw Problem.unprocessable(
                    "field 'type' must be text, \(MediaKind.allCases.map(\.rawValue).joined(separator: ", ")), reaction, location, contact or poll",
                    field: "type")
            }
            kind = parsed
        }
        if let humanize = input.humanize {
            switch humanize {
            case .bool, .object: break
            default: throw Problem.badRequest("field 'humanize' must be true, false or an object of overrides", field: "humanize")
            }
        }
        var job = try await newJob(request, session: session, chat: chat, id: jobID, humanize: input.humanize)
        job.replyTo = input.replyTo
        if let key = job.idempotencyKey,
            let earlier = try await services.store.job(idempotencyKey: key, tenantID: session.tenantId, now: job.createdAt)
        {
            return respond(earlier, replayed: true)
        }
        if let richType {
            return try await accept(richJob(job, type: richType, input: input, engine: session.engine), session: session, request: request)
        }
        if isMedia {
            // Refused before anything is downloaded when the engine cannot send it.
            try Self.requireSupport(kind.map { [MessageType($0)] } ?? MessageType.basic.filter(\.isMedia), by: session.engine)
            if let upload, let file = upload.file {
                guard capabilities.mediaSource == .file else {
                    throw Problem.unprocessable(
                        "the \(session.engine) engine sends media by link only: give 'mediaUrl' instead of a file", field: "file")
                }
                job = try checkedUpload(upload, file: file, kind: kind, input: input, job: job, capabilities: capabilities, engine: session.engine)
                keepsUpload = true
                return try await accept(job, session: session, request: request)
            }
            guard let mediaURL, !mediaURL.isEmpty else {
                throw Problem.badRequest("field 'mediaUrl' is required for a media message (or upload a 'file')", field: "mediaUrl")
            }
            if let caption = input.caption, !Validation.fits(caption, characters: 1024) {
                throw Problem.unprocessable("field 'caption' must be at most 1024 characters (and 4096 bytes of UTF-8)", field: "caption")
            }
            if capabilities.mediaSource == .link {
                // WhatsApp fetches the media from the link itself (the Cloud API).
                let linkKind = try media.checkLink(mediaURL, kind: kind)
                job.kind = MessageType(linkKind)
                job.mediaUrl = mediaURL
                job.text = input.caption
                job.fileName = input.filename ?? (linkKind == .document ? URL(string: mediaURL)?.lastPathComponent : nil)
                return try await accept(job, session: session, request: request)
            }
            let fetched = try await media.fetch(mediaURL, kind: kind ?? .document, jobID: jobID)
            let resolvedKind = kind ?? Self.kind(forMimeType: fetched.mimeType)
            if kind == nil, let size = (try? FileManager.default.attributesOfItem(atPath: fetched.file)[.size] as? Int),
                size > MediaFetcher.sizeLimit(resolvedKind)
            {
                try? FileManager.default.removeItem(atPath: fetched.file)
                throw MediaError.tooLarge(resolvedKind)
            }
            if kind == nil, !capabilities.messageTypes.contains(MessageType(resolvedKind)) {
                try? FileManager.default.removeItem(atPath: fetched.file)
                try Self.requireSupport([MessageType(resolvedKind)], by: session.engine)
            }
            if resolvedKind == .voice, capabilities.voiceNotesMustBeOggOpus {
                do {
                    _ = try MediaProbe.voiceNote(at: URL(fileURLWithPath: fetched.file))
                } catch {
                    try? FileManager.default.removeItem(atPath: fetched.file)
                    throw Problem.unprocessable("field 'mediaUrl': \(error.description)", field: "mediaUrl")
                }
            }
            job.kind = MessageType(resolvedKind)
            job.mediaUrl = mediaURL
            job.mediaFile = fetched.file
            job.mimeType = fetched.mimeType
            job.text = input.caption
            job.fileName = input.filename ?? (resolvedKind == .document ? URL(string: mediaURL)?.lastPathComponent : nil)
        } else {
            guard let text = input.text, !text.isEmpty else {
                throw Problem.badRequest("field 'text' is required (or send 'mediaUrl' for media)", field: "text")
            }
            try Self.requireSupport([.text], by: session.engine)
            guard Validation.fits(text, characters: 65_536) else {
                throw Problem.unprocessable("field 'text' must be at most 65536 characters (and 256 KiB of UTF-8)", field: "text")
            }
            if text.count > capabilities.textLimit {
                throw Problem.unprocessable(
                    "field 'text' must be at most \(capabilities.textLimit) characters on the \(session.engine) engine", field: "text")
            }
            job.text = text
        }
        return try await accept(job, session: session, request: request)
    }

    /// An uploaded file's job: its kind (given, else from its type), size and type checked as a
    /// downloaded one's would be.
    private func checkedUpload(
        _ upload: MultipartUpload, file: URL, kind: MediaKind?, input: Input, job: JobRecord, capabilities: EngineCapabilities,
        engine: EngineKind
    ) throws -> JobRecord {
        var job = job
        let given = (input.mimeType ?? upload.contentType ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        let mimeType = given.flatMap { $0.isEmpty || $0 == "application/octet-stream" ? nil : $0 } ?? "application/octet-stream"
        let resolvedKind = kind ?? Self.kind(forMimeType: mimeType)
        guard upload.size <= MediaFetcher.sizeLimit(resolvedKind) else { throw MediaError.tooLarge(resolvedKind) }
        guard upload.size > 0 else { throw Problem.unprocessable("the uploaded file is empty", field: "file") }
        guard MediaFetcher.accepts(mimeType, for: resolvedKind) else { throw MediaError.unsupportedType(mimeType, resolvedKind) }
        try Self.requireSupport([MessageType(resolvedKind)], by: engine)
        if resolvedKind == .voice, capabilities.voiceNotesMustBeOggOpus {
            do {
                _ = try MediaProbe.voiceNote(at: file)
            } catch {
                throw Problem.unprocessable("field 'file': \(error.description)", field: "file")
            }
        }
        if let caption = input.caption, !Validation.fits(caption, characters: 1024) {
            throw Problem.unprocessable("field 'caption' must be at most 1024 characters (and 4096 bytes of UTF-8)", field: "caption")
        }
        job.kind = MessageType(resolvedKind)
        job.mediaFile = file.path
        job.mimeType = mimeType
        job.text = input.caption
        job.fileName = input.filename ?? upload.fileName
        return job
    }

    /// Stores a checked job (or finds the earlier one with its idempotency key) and answers.
    private func accept(_ job: JobRecord, session: SessionRecord, request: Request) async throws -> EditedResponse<View> {
        let (stored, isNew) = try await services.store.enqueue(job, now: job.createdAt)
        if !isNew, let file = job.mediaFile { try? FileManager.default.removeItem(atPath: file) }
        if isNew { dispatcher.wake(sessionID: session.id) }
        if let wait = try waitSeconds(request), wait > 0, isNew {
            if let finished = try await dispatcher.waitUntilFinished(jobID: stored.id, timeout: .seconds(wait)),
                finished.status.isFinished
            {
                return EditedResponse(status: .ok, response: View(finished))
            }
        }
        return respond(stored, replayed: !isNew)
    }

    private func respond(_ job: JobRecord, replayed: Bool) -> EditedResponse<View> {
        var headers: HTTPFields = [:]
        if replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return EditedResponse(status: .accepted, headers: headers, response: View(job))
    }

    private func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!] else { return nil }
        guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw Problem.badRequest("the Idempotency-Key header must be 1 to 255 visible ASCII characters")
        }
        return key
    }

    private func waitSeconds(_ request: Request) throws -> Int? {
        guard let text = request.uri.queryParameters.get("wait") else { return nil }
        guard let value = Int(text), (0...60).contains(value) else {
            throw Problem.badRequest("query parameter 'wait' must be a whole number of seconds from 0 to 60", field: "wait")
        }
        return value
    }

    /// What a kind of chat is called in an answer.
    private static func noun(_ kind: EngineCapabilities.ChatKind) -> String {
        switch kind {
        case .person: "phone numbers"
        case .lid: "hidden-user ids (…@lid)"
        case .group: "groups"
        }
    }

    static func kind(forMimeType mimeType: String) -> MediaKind {
        if MediaFetcher.accepts(mimeType, for: .image) { return .image }
        if MediaFetcher.accepts(mimeType, for: .video) { return .video }
        if MediaFetcher.accepts(mimeType, for: .audio) { return .audio }
        return .document
    }
}

extension MessageController.Input {
    /// The fields of a multipart/form-data send (`humanize` as JSON text).
    init(form fields: [String: String]) throws {
        chatId = fields["chatId"]
        text = fields["text"]
        type = fields["type"]
        mediaUrl = fields["mediaUrl"]
        url = fields["url"]
        caption = fields["caption"]
        filename = fields["filename"]
        replyTo = fields["replyTo"]
        mimeType = fields["mimeType"]
        if let humanize = fields["humanize"] {
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(humanize.utf8)) else {
                throw Problem.badRequest("field 'humanize' must be JSON (true, false or an object of overrides)", field: "humanize")
            }
            self.humanize = value
        }
    }
}
