using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Tern.Sasl;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;
using static Tern.Smtp.Tests.Client.ClientTest;

namespace Tern.Smtp.Tests.Client;

/// <summary>The client against Tern's own server in-process: STARTTLS, implicit TLS, AUTH (SCRAM -PLUS...), BDAT, LIMITS.</summary>
public sealed class TernServerClientTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        _t = TestServer.Start(limits: l => l with { MaxRecipients = 2 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private static async Task<Stream> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return new NetworkStream(socket, ownsSocket: true);
    }

    private static SmtpClientOptions TernOptions(SmtpTlsMode mode = SmtpTlsMode.Opportunistic, SmtpClientAuthOptions? auth = null) => Options(mode) with
    {
        Tls = new ClientTlsOptions { ServerName = "mx.tern.test", IgnoreVerificationErrors = true },
        Auth = auth,
    };

    private static SmtpClientAuthOptions Alice(string password = TestServer.Password, params string[] mechanisms) => new()
    {
        Username = TestServer.User,
        Password = password,
        Mechanisms = mechanisms.Length == 0 ? null : mechanisms,
    };

    [Fact]
    public async Task Starttls_pipelining_8bit_and_connection_reuse()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Relay), TernOptions());
        Assert.Null(await session.OpenAsync());
        Assert.True(session.Info.Tls);
        Assert.True(session.Info.StartTlsOffered && session.Info.RequireTlsOffered && session.Info.EightBitMimeOffered && session.Info.SmtpUtf8Offered && session.Info.DsnOffered);
        Assert.True(session.Info.Extensions.Pipelining && session.Info.Extensions.Chunking);
        Assert.Equal(2, session.Info.Extensions.RcptMax);

        var body = "Subject: gr\u00fc\u00dfe\r\n\r\n.leading dot\r\n..two dots\r\n" + string.Concat(Enumerable.Range(0, 3000).Select(i => $"line {i} \u00e4\r\n"));
        for (var n = 0; n < 3; n++)
        {
            var message = Message("bob@example.net", "carol@example.net") with { Content = Encoding.UTF8.GetBytes(body) };
            var result = await session.SendAsync(message);
            Assert.All(result.Recipients, r => Assert.Equal(SmtpOutcome.Delivered, r.Outcome));
            Assert.Equal(1, result.Transactions);
        }

        await session.QuitAsync();
        Assert.Equal(3, _t.Store.Messages.Count);
        var stored = _t.Store.Messages.First();
        Assert.True(stored.Tls && stored.EightBit);
        Assert.EndsWith(body, stored.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_rcptmax_splits_the_recipients_into_transactions()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.RelayNoTls), TernOptions(SmtpTlsMode.None));
        Assert.Null(await session.OpenAsync());
        Assert.False(session.Info.Tls);
        var recipients = Enumerable.Range(1, 5).Select(i => $"r{i}@example.net").ToArray();
        var result = await session.SendAsync(Message(recipients));
        await session.QuitAsync();
        Assert.Equal(3, result.Transactions);
        Assert.All(result.Recipients, r => Assert.Equal(SmtpOutcome.Delivered, r.Outcome));
        Assert.Equal(recipients, _t.Store.Messages.SelectMany(m => m.Recipients).Order());
    }

    [Fact]
    public async Task Smtputf8_dsn_and_bdat()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Relay), TernOptions() with { PreferChunking = true, ChunkSize = 1000 });
        Assert.Null(await session.OpenAsync());
        var message = Message() with
        {
            Sender = "j\u00f6rg@example.org",
            Recipients = [new SmtpRecipient("b\u00f6b@example.net", DsnNotify.Failure, "utf-8;b\u00f6b@example.net")],
            Content = Encoding.UTF8.GetBytes("Subject: x\r\n\r\n" + new string('z', 5000) + "\r\n"),
            SmtpUtf8 = true,
            Ret = DsnReturn.Headers,
            EnvelopeId = "env1",
        };
        var result = await session.SendAsync(message);
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        var stored = Assert.Single(_t.Store.Messages);
        Assert.True(stored.SmtpUtf8);
        Assert.Equal(["utf-8;b\u00f6b@example.net"], stored.Orcpts);
        Assert.EndsWith(new string('z', 5000) + "\r\n", stored.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Requiretls_goes_over_pkix_verified_tls(bool sharedTrustStore)
    {
        // The server's self-signed certificate is the only trusted root: PKIX verifies.
        using var trust = sharedTrustStore ? new Tern.Smtp.Client.Tls.TrustStore() : null;
        var options = TernOptions(SmtpTlsMode.Required) with
        {
            Tls = new ClientTlsOptions { ServerName = "mx.tern.test", VerifyPkix = true, CaBundlePath = _t.Certificate.CertificatePath },
        };
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Relay), options, trustStore: trust);
        Assert.Null(await session.OpenAsync());
        Assert.True(session.Info.Verification!.PkixValid);
        Assert.Null(session.Info.Verification.DaneValid);
        var result = await session.SendAsync(Message("bob@example.net") with { RequireTls = true });
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        Assert.True(Assert.Single(_t.Store.Messages).RequireTls);
    }

    [Fact]
    public async Task Pkix_required_and_the_wrong_name_fails_tls()
    {
        var options = TernOptions(SmtpTlsMode.Required) with
        {
            Tls = new ClientTlsOptions { ServerName = "other.tern.test", VerifyPkix = true, CaBundlePath = _t.Certificate.CertificatePath },
        };
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Relay), options);
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpFailureKind.Tls, failure!.Kind);
        Assert.False(session.Info.Verification!.PkixValid);
        Assert.NotNull(session.Info.Verification.PkixError);
    }

    [Fact]
    public async Task Bare_lf_content_is_repaired_so_the_server_accepts_it()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.RelayNoTls), TernOptions(SmtpTlsMode.None));
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("bob@example.net") with { Content = Encoding.ASCII.GetBytes("Subject: x\n\nbare\nlf\n") });
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        Assert.EndsWith("Subject: x\r\n\r\nbare\r\nlf\r\n", Assert.Single(_t.Store.Messages).Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(SaslMechanisms.ScramSha256Plus, null)]
    [InlineData(SaslMechanisms.ScramSha1, SaslMechanisms.ScramSha1)]
    [InlineData(SaslMechanisms.ScramSha1Plus, SaslMechanisms.ScramSha1Plus)]
    [InlineData(SaslMechanisms.CramMd5, SaslMechanisms.CramMd5)]
    [InlineData(SaslMechanisms.Plain, SaslMechanisms.Plain)]
    [InlineData(SaslMechanisms.Login, SaslMechanisms.Login)]
    public async Task Auth_on_submission_with_each_mechanism(string expected, string? configured)
    {
        var auth = configured is null ? Alice() : Alice(TestServer.Password, configured);
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Submission), TernOptions(SmtpTlsMode.Required, auth));
        Assert.Null(await session.OpenAsync());
        Assert.Equal(expected, session.Info.AuthMechanism);
        var result = await session.SendAsync(Message("bob@example.net") with { Sender = TestServer.User });
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        Assert.Equal(TestServer.User, Assert.Single(_t.Store.Messages).User);
    }

    [Fact]
    public async Task Auth_refused_is_a_temporary_failure_with_the_servers_reply()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Submission), TernOptions(SmtpTlsMode.Required, Alice("wrong password")));
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpStage.Auth, failure!.Stage);
        Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        Assert.Equal(SmtpFailureKind.Reply, failure.Kind);
        Assert.Equal(535, failure.Reply.Code);
        Assert.Null(session.Info.AuthMechanism);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Auth_refused_without_soft_bounce_is_permanent()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Submission), TernOptions(SmtpTlsMode.Required, Alice("wrong password") with { SoftBounce = false }));
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpOutcome.PermanentFailure, failure!.Outcome);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Auth_needs_a_usable_mechanism()
    {
        // PLAIN is offered only over TLS and the client never sends a password in plaintext unasked.
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Submission), TernOptions(SmtpTlsMode.None, Alice()));
        var failure = await session.OpenAsync();
        Assert.Equal(SmtpStage.Auth, failure!.Stage);
        Assert.Equal(SmtpFailureKind.Policy, failure.Kind);
        Assert.Equal(SmtpOutcome.TemporaryFailure, failure.Outcome);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Implicit_tls_submission_with_auth()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Submissions), TernOptions(SmtpTlsMode.Implicit, Alice()));
        Assert.Null(await session.OpenAsync());
        Assert.True(session.Info.ImplicitTls);
        Assert.Equal(SaslMechanisms.ScramSha256Plus, session.Info.AuthMechanism);
        var result = await session.SendAsync(Message("bob@example.net") with { Sender = TestServer.User });
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
    }

    [Fact]
    public async Task Submission_refuses_other_senders_per_recipient_stage_mail()
    {
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Submission), TernOptions(SmtpTlsMode.Required, Alice()));
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("bob@example.net") with { Sender = "mallory@example.org" });
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[0].Outcome);
        Assert.Equal(SmtpStage.Mail, result.Recipients[0].Stage);
        Assert.Equal(553, result.Recipients[0].Reply.Code);

        // RSET, then the same connection goes on.
        var ok = await session.SendAsync(Message("bob@example.net") with { Sender = TestServer.User });
        Assert.Equal(SmtpOutcome.Delivered, ok.Recipients[0].Outcome);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Trace_hides_credentials_and_data()
    {
        var log = new ListLogger();
        await using var session = new SmtpClientSession(await ConnectAsync(_t.Submission), TernOptions(SmtpTlsMode.Required, Alice(TestServer.Password, SaslMechanisms.Plain)), log, "c1");
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("bob@example.net") with { Sender = TestServer.User });
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
        var lines = log.Lines.ToArray();
        Assert.Contains(lines, l => l == "client command c1 EHLO client.example.org");
        Assert.Contains(lines, l => l == "client command c1 AUTH ***");
        Assert.Contains(lines, l => l == "client data c1 ...(25 bytes)");
        Assert.Contains(lines, l => l.StartsWith("client reply c1 235 ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("client reply c1 250-", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + TestServer.User + "\0" + TestServer.Password)), StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("Hello.", StringComparison.Ordinal));
    }

    /// <summary>Collects formatted log lines, every level on (as a formatter that does not know LogSecret/LogData would show them).</summary>
    private sealed class ListLogger : ILogger
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue(formatter(state, exception));
    }
}
