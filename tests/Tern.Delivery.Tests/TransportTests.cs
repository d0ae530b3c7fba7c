using System.Net;

namespace Tern.Delivery.Tests;

/// <summary>The transport records: defaults, the TLS verification flag REQUIRETLS relies on, no password in ToString.</summary>
public sealed class TransportTests
{
    public static TheoryData<Transport, bool> VerificationCases => new()
    {
        { new DirectTransport { Name = "d" }, true },
        { new SocksTransport { Name = "s", ProxyHost = "127.0.0.1", EhloName = "p.example", PublicAddresses = [IPAddress.Loopback] }, true },
        { new SmtpTransport { Name = "s", Host = "relay.example" }, true },
        { new SmtpTransport { Name = "s", Host = "relay.example", VerifyTls = false }, false },
        { new SmtpTransport { Name = "s", Host = "relay.example", RequireTls = false }, false },
        { new SubmissionTransport { Name = "s", Host = "relay.example" }, true },
        { new SubmissionTransport { Name = "s", Host = "relay.example", VerifyTls = false }, false },
        { new SubmissionsTransport { Name = "s", Host = "relay.example" }, true },
        { new SubmissionsTransport { Name = "s", Host = "relay.example", VerifyTls = false }, false },
    };

    [Theory]
    [MemberData(nameof(VerificationCases))]
    public void VerifiesTls_follows_the_switches(Transport transport, bool verifies) => Assert.Equal(verifies, transport.VerifiesTls);

    [Fact]
    public void Smarthost_kinds_have_their_ports_and_TLS_modes()
    {
        var smtp = new SmtpTransport { Name = "a", Host = "h.example" };
        var submission = new SubmissionTransport { Name = "b", Host = "h.example" };
        var submissions = new SubmissionsTransport { Name = "c", Host = "h.example" };
        Assert.Equal((25, SmarthostTls.StartTls, TransportKind.Smtp), (smtp.Port, smtp.Tls, smtp.Kind));
        Assert.Equal((587, SmarthostTls.StartTls, TransportKind.Submission), (submission.Port, submission.Tls, submission.Kind));
        Assert.Equal((465, SmarthostTls.Implicit, TransportKind.Submissions), (submissions.Port, submissions.Tls, submissions.Kind));
        Assert.Equal(SmarthostTls.Opportunistic, (smtp with { RequireTls = false }).Tls);
        Assert.Equal(2525, new SmtpTransport { Name = "a", Host = "h.example", Port = 2525 }.Port);
    }

    [Fact]
    public void Passwords_never_appear_in_ToString()
    {
        var smtp = new SmtpTransport { Name = "a", Host = "h.example", Auth = new SmarthostAuth("user", "s3cret-smtp") };
        var socks = new SocksTransport
        {
            Name = "s", ProxyHost = "127.0.0.1", EhloName = "p.example", PublicAddresses = [IPAddress.Loopback],
            Credentials = new Socks5Credentials("puser", "s3cret-socks"),
        };
        Assert.DoesNotContain("s3cret", smtp.ToString(), StringComparison.Ordinal);
        Assert.Contains("user", smtp.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", socks.ToString(), StringComparison.Ordinal);
        Assert.Contains("puser", socks.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Fail_transport_gives_its_reply()
    {
        var f = new FailTransport { Name = "f", Code = 451, EnhancedCode = "4.3.2", Text = "try later" };
        Assert.Equal(new DeliveryFailure(451, "4.3.2", "try later"), f.Failure);
        Assert.False(f.Failure.Permanent);
        Assert.True(new FailTransport { Name = "g" }.Failure.Permanent);
    }

    [Fact]
    public void Connectors_match_the_transport_kinds()
    {
        var loggers = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        var direct = new DirectTransport { Name = "d", DisableIPv6 = true, SourceIPv4 = IPAddress.Parse("127.0.0.2") };
        var dc = Assert.IsType<DirectConnector>(Connectors.For(direct, loggers));
        Assert.True(dc.Options.DisableIPv6);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), dc.Options.SourceIPv4);
        Assert.Equal(TimeSpan.FromSeconds(30), dc.Options.Timeout);
        var socks = new SocksTransport { Name = "s", ProxyHost = "127.0.0.1", ProxyPort = 9050, EhloName = "p.example", PublicAddresses = [IPAddress.Loopback] };
        var sc = Assert.IsType<Socks5Connector>(Connectors.For(socks, loggers, TimeSpan.FromSeconds(5)));
        Assert.Equal(new Socks5ProxyOptions("127.0.0.1", 9050), sc.Proxy);
        Assert.Equal(TimeSpan.FromSeconds(5), sc.Options.Timeout);
        Assert.IsType<DirectConnector>(Connectors.For(new SubmissionsTransport { Name = "x", Host = "h.example" }, loggers));
        Assert.Throws<ArgumentException>(() => Connectors.For(new FailTransport { Name = "f" }, loggers));
    }
}
