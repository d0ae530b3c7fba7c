namespace Tern.Dns.Tests;

/// <summary>The zones knot serves in the tests. example.test is signed by knot; the others are not.</summary>
internal static class TestZones
{
    public const string Signed = "example.test";
    public const string Unsigned = "plain.test";

    /// <summary>Unsigned, but unbound holds a trust anchor for it that nothing matches: every answer is bogus (SERVFAIL).</summary>
    public const string Bogus = "bogus.test";

    public const string ReverseV4 = "2.0.192.in-addr.arpa";

    // 2001:db8::/32 in nibbles, written out rather than computed by the code under test.
    public const string ReverseV6 = "8.b.d.0.1.0.0.2.ip6.arpa";

    /// <summary>TLSA 3 1 1 data at _25._tcp.mx1.example.test (any 32 bytes do: nothing checks a certificate here).</summary>
    public const string TlsaHex = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1";

    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>
    {
        [Signed] = """
            $ORIGIN example.test.
            $TTL 300
            @        SOA ns hostmaster 1 3600 600 86400 60
            @        NS ns
            ns       A 127.0.0.1
            ; several preferences, two equal
            @        MX 10 mx1
            @        MX 20 mx2
            @        MX 20 mx3
            @        MX 30 mxalias
            @        TXT "v=spf1 -all"
            mx1      A 192.0.2.1
            mx1      AAAA 2001:db8::1
            mx2      A 192.0.2.2
            mx3      AAAA 2001:db8::3
            ; an MX target that is an alias (RFC 2181 section 10.3 says it must not be; seen anyway)
            mxalias  CNAME mx1
            _25._tcp.mx1 TLSA 3 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1
            multi    TXT "v=STSv1; " "id=20261128"
            multi    TXT "second"
            nullmx   MX 0 .
            nomx     A 192.0.2.10
            nomx     AAAA 2001:db8::10
            ; the domain itself is an alias, two hops
            alias    CNAME alias2
            alias2   CNAME target
            target   MX 10 mx1
            under    MX 10 bad_host
            bad_host A 192.0.2.20
            ; a signed MX pointing into the unsigned zone
            insecure MX 10 mx.plain.test.
            badmx    MX 10 missing
            v6only   MX 10 mx3
            ; ten hops: longer than the resolver follows
            deep     CNAME c1
            c1       CNAME c2
            c2       CNAME c3
            c3       CNAME c4
            c4       CNAME c5
            c5       CNAME c6
            c6       CNAME c7
            c7       CNAME c8
            c8       CNAME c9
            c9       CNAME c10
            c10      A 192.0.2.99
            loop1    CNAME loop2
            loop2    CNAME loop1
            """,
        [Unsigned] = """
            $ORIGIN plain.test.
            $TTL 300
            @        SOA ns hostmaster 1 3600 600 86400 120
            @        NS ns
            ns       A 127.0.0.1
            @        MX 10 mx
            mx       A 192.0.2.30
            mx       AAAA 2001:db8::30
            alias    CNAME target.example.test.
            """,
        [Bogus] = """
            $ORIGIN bogus.test.
            $TTL 300
            @        SOA ns hostmaster 1 3600 600 86400 60
            @        NS ns
            ns       A 127.0.0.1
            @        MX 10 mx
            mx       A 192.0.2.40
            """,
        [ReverseV4] = """
            $ORIGIN 2.0.192.in-addr.arpa.
            $TTL 300
            @        SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
            @        NS ns.example.test.
            1        PTR mx1.example.test.
            """,
        [ReverseV6] = """
            $ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.
            $TTL 300
            @        SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
            @        NS ns.example.test.
            1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR mx1.example.test.
            """,
    };
}
