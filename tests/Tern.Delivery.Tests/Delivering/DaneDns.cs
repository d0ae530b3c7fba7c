using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;
using Tern.Tests.Support;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// DNSSEC for <see cref="DaneDeliveryTests"/>: knot serves and signs dane.test (TLSA records made from
/// <see cref="DanePki"/>), serves plain.test unsigned and bogus.test unsigned; unbound on loopback
/// validates with dane.test's DS as trust anchor, and with anchors no key matches for bogus.test and for
/// the zone holding one host's TLSA record (so unbound answers SERVFAIL there). The deliverer asks
/// unbound: the AD bit is trusted from a loopback resolver. MX hosts listen on 127.0.0.21..29 at
/// <see cref="SmtpPort"/>.
/// </summary>
public sealed class DaneDns : IAsyncLifetime
{
    public const string Domain = "dane.test";
    public const string Plain = "plain.test";
    public const string Bogus = "bogus.test";

    /// <summary>The zone below mx-tlsafail.dane.test that holds its TLSA record; bogus to unbound.</summary>
    public const string TlsaFailZone = "_tcp.mx-tlsafail.dane.test";

    // One address per MX host (Linux routes all of 127/8 to lo).
    public const string EeAddress = "127.0.0.21";
    public const string MismatchAddress = "127.0.0.22";
    public const string TlsaFailAddress = "127.0.0.23";
    public const string TaAddress = "127.0.0.24";
    public const string TaWrongNameAddress = "127.0.0.25";
    public const string UnusableAddress = "127.0.0.26";
    public const string NoStartTlsAddress = "127.0.0.27";
    public const string RequireTlsAddress = "127.0.0.28";
    public const string PlainAddress = "127.0.0.29";

    /// <summary>A DS digest (32 bytes) that matches no key: the anchor that makes a zone bogus.</summary>
    private const string NoKeyDigest = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1";

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-dane-").FullName;
    private LoopbackDaemon? _knot;
    private LoopbackDaemon? _unbound;

    public DanePki Pki { get; } = new(taHost: "mx-ta." + Domain, wrongNameHost: "not-mx-taname." + Domain);

    /// <summary>The port every test SMTP server listens on, whatever its 127.0.0.x address.</summary>
    public int SmtpPort { get; private set; }

    public IPEndPoint Unbound => _unbound!.EndPoint;

    /// <summary>A resolver asking unbound, with test-friendly timeouts and its own cache.</summary>
    public DnsResolver Resolver() => new(new DnsOptions { Servers = [Unbound], Timeout = TimeSpan.FromSeconds(2), Attempts = 1 }, NullLoggerFactory.Instance);

    /// <summary>
    /// ee: DANE-EE "3 1 1" of the server's key. mismatch: "3 1 1" of another key. tlsafail: the first MX's
    /// TLSA lookup fails (bogus zone), the second is mx-ee; tlsafailonly: only that host. ta / taname:
    /// DANE-TA "2 0 1" of the issuing CA the server sends, the server's name right / wrong. unusable:
    /// only PKIX-EE "1 1 1", unusable for SMTP. nostarttls: DANE-EE, the server offers no STARTTLS.
    /// requiretls: DANE-EE, the server announces REQUIRETLS. alias: the MX host is a CNAME of mx-ee, whose
    /// TLSA record is at the expanded name; original: the MX host is a CNAME of a name without TLSA, the
    /// record is at the original name (RFC 7672 section 2.2.2 looks at both, the expanded name first).
    /// </summary>
    public string SignedZone => $"""
        $ORIGIN {Domain}.
        $TTL 60
        @              SOA ns hostmaster 1 3600 600 86400 60
        @              NS ns
        ns             A 127.0.0.1
        ee             MX 10 mx-ee
        mx-ee          A {EeAddress}
        _25._tcp.mx-ee TLSA 3 1 1 {DanePki.Hex(Pki.EndEntitySpkiSha256)}
        mismatch       MX 10 mx-mismatch
        mx-mismatch    A {MismatchAddress}
        _25._tcp.mx-mismatch TLSA 3 1 1 {DanePki.Hex(Pki.OtherSpkiSha256)}
        tlsafail       MX 10 mx-tlsafail
        tlsafail       MX 20 mx-ee
        tlsafailonly   MX 10 mx-tlsafail
        mx-tlsafail    A {TlsaFailAddress}
        _tcp.mx-tlsafail NS ns
        ta             MX 10 mx-ta
        mx-ta          A {TaAddress}
        _25._tcp.mx-ta TLSA 2 0 1 {DanePki.Hex(Pki.IntermediateCertSha256)}
        taname         MX 10 mx-taname
        mx-taname      A {TaWrongNameAddress}
        _25._tcp.mx-taname TLSA 2 0 1 {DanePki.Hex(Pki.IntermediateCertSha256)}
        unusable       MX 10 mx-unusable
        mx-unusable    A {UnusableAddress}
        _25._tcp.mx-unusable TLSA 1 1 1 {DanePki.Hex(Pki.EndEntitySpkiSha256)}
        nostarttls     MX 10 mx-nostarttls
        mx-nostarttls  A {NoStartTlsAddress}
        _25._tcp.mx-nostarttls TLSA 3 1 1 {DanePki.Hex(Pki.EndEntitySpkiSha256)}
        alias          MX 10 mx-alias
        mx-alias       CNAME mx-ee
        original       MX 10 mx-original
        mx-original    CNAME mx-target
        mx-target      A {EeAddress}
        _25._tcp.mx-original TLSA 3 1 1 {DanePki.Hex(Pki.EndEntitySpkiSha256)}
        requiretls     MX 10 mx-requiretls
        mx-requiretls  A {RequireTlsAddress}
        _25._tcp.mx-requiretls TLSA 3 1 1 {DanePki.Hex(Pki.EndEntitySpkiSha256)}
        """;

    /// <summary>Unsigned: its TLSA record (of another key) must be ignored, the answers not being authentic.</summary>
    public static string PlainZone(string otherKeyHex) => $"""
        $ORIGIN {Plain}.
        $TTL 60
        @              SOA ns hostmaster 1 3600 600 86400 60
        @              NS ns
        ns             A 127.0.0.1
        @              MX 10 mx
        mx             A {PlainAddress}
        _25._tcp.mx    TLSA 3 1 1 {otherKeyHex}
        """;

    public async Task InitializeAsync()
    {
        var zones = new Dictionary<string, string>
        {
            [Domain] = SignedZone,
            [Plain] = PlainZone(DanePki.Hex(Pki.OtherSpkiSha256)),
            [Bogus] = $"""
                $ORIGIN {Bogus}.
                $TTL 60
                @              SOA ns hostmaster 1 3600 600 86400 60
                @              NS ns
                ns             A 127.0.0.1
                @              MX 10 mx
                mx             A {EeAddress}
                """,
            [TlsaFailZone] = $"""
                $ORIGIN {TlsaFailZone}.
                $TTL 60
                @              SOA ns.{Domain}. hostmaster.{Domain}. 1 3600 600 86400 60
                @              NS ns.{Domain}.
                _25            TLSA 3 1 1 {DanePki.Hex(Pki.EndEntitySpkiSha256)}
                """,
        };
        _knot = await KnotServer.StartAsync(_dir, zones, "ee." + Domain, signed: new HashSet<string> { Domain });
        var anchors = (await KnotServer.DsRecordsAsync(_dir, Domain))
            .Append($"{Bogus}. DS 11111 13 2 {NoKeyDigest}")
            .Append($"{TlsaFailZone}. DS 11111 13 2 {NoKeyDigest}");
        _unbound = await UnboundServer.StartAsync(_dir, _knot.EndPoint, zones.Keys, anchors, ["test"], "ee." + Domain);
        SmtpPort = DeliveryDns.FreeOnAll(21, 29);
    }

    public Task DisposeAsync()
    {
        _unbound?.Dispose();
        _knot?.Dispose();
        Pki.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }
}
