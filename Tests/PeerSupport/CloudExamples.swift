/// Meta's documented Cloud API webhook payloads (webhooks reference: messages and status), shared
/// by the protocol tests and the gateway tests.
public enum CloudExamples {
    /// The documented inbound text message.
    public static let textMessage = """
        {"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
        "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
        "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
        "messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}
        """

    /// The documented `sent` status, for another number of the same app.
    public static let sentStatus = """
        {"id":"wamid.HBgNNTUxNjk5MjMxODIyMhUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA=","status":"sent",
        "timestamp":"1750857384","recipient_id":"5516992318222",
        "conversation":{"id":"a75d17ad06104c51166f948319b03c6a","expiration_timestamp":"1750943820","origin":{"type":"service"}},
        "pricing":{"billable":true,"pricing_model":"CBP","category":"service"}}
        """

    /// A status notification of that number carrying `statuses`.
    public static func statusNotification(_ statuses: String...) -> String {
        """
        {"object":"whatsapp_business_account","entry":[{"id":"1314702302917944","changes":[{"value":{
        "messaging_product":"whatsapp","metadata":{"display_phone_number":"15556459128","phone_number_id":"590968830767958"},
        "statuses":[\(statuses.joined(separator: ","))]},
        "field":"messages"}]}]}
        """
    }
}
