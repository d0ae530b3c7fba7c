using Tern.Fuzz.Targets;

namespace Tern.Fuzz;

/// <summary>One fuzz target: a name (the corpus and dictionary directory), what it covers, and the entry point.</summary>
public sealed record FuzzTarget(string Name, string Description, FuzzTarget.Entry Run)
{
    public delegate void Entry(ReadOnlySpan<byte> input);
}

/// <summary>Every target, by name.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("smtp-command", "server command lines: line splitting, verbs, MAIL/RCPT paths and ESMTP parameters", SmtpCommandTarget.Run),
        new("auth", "AUTH exchanges: base64 lines through the SASL servers (PLAIN, LOGIN, CRAM-MD5, SCRAM)", AuthTarget.Run),
        new("data", "DATA content: terminator, dot-unstuffing, bare CR/LF, limits; chunked vs whole", DataTarget.Run),
        new("smtp-reply", "client side: server replies, enhanced status codes, EHLO keywords", SmtpReplyTarget.Run),
        new("address", "mail addresses: RFC 5321 paths, quoted local parts, literals, UTF-8 and IDN domains", AddressTarget.Run),
        new("dns", "DNS responses over UDP through DnsClient and Tern's resolver and MX/destination logic", DnsTarget.Run),
        new("config", "the TOML configuration file through ConfigLoader", ConfigTarget.Run),
        new("mta-sts-record", "MTA-STS TXT records (RFC 8461 3.1)", MtaStsRecordTarget.Run),
        new("mta-sts-policy", "MTA-STS policy files (RFC 8461 3.2) and MX matching", MtaStsPolicyTarget.Run),
        new("tls-required", "the TLS-Required header field: spool-side scanner vs delivery-side check", TlsRequiredTarget.Run),
        new("dsn", "delivery status notices from hostile ENVID/ORCPT xtext, reply texts and messages", DsnTarget.Run),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
