using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Config;
using Tern.Delivery;
using Tern.Hosting;
using Tern.Observability.Metrics;
using Tern.Smtp.Protocol;
using Tern.Smtp.Server;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Tests.Hosting;

/// <summary>
/// The "auto" REQUIRETLS choice where the host makes it: the SMTP server's store on a real spool
/// and a real domain TLS history, with envelopes as the session fills them in.
/// </summary>
public sealed class AutoRequireTlsTests : IAsyncLifetime
{
    private static readonly DateTimeOffset When = DateTimeOffset.UtcNow.AddHours(-1);

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-autorequiretls-").FullName;
    private global::Tern.Spool.Spool _spool = null!;
    private DomainTlsHistory _history = null!;
    private SpoolMessageStore _store = null!;

    public Task InitializeAsync()
    {
        _spool = global::Tern.Spool.Spool.Open(
            new SpoolOptions { Directory = Path.Combine(_dir, "spool"), PageSizeBits = 20, MemorySizeBits = 23, SegmentSizeBits = 24 },
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        _history = DomainTlsHistory.Open(DomainTlsHistory.PathIn(_dir));
        _history.Observed("secure.example", startTls: true, verified: true, requireTls: true, When);
        _history.Observed("xn--bcher-kva.example", startTls: true, verified: true, requireTls: true, When);
        _history.Observed("unverified.example", startTls: true, verified: false, requireTls: true, When);
        _history.Observed("plain.example", startTls: false, verified: false, requireTls: false, When);
        _history.Observed("norequiretls.example", startTls: true, verified: true, requireTls: false, When);
        var listeners = new ListenerConfig[]
        {
            new("submission", ListenerKind.Submission, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 587), null, null, new SmtpLimits()) { RequireTls = ListenerRequireTls.Auto },
            new("quiet", ListenerKind.Submissions, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 465), null, null, new SmtpLimits()) { RequireTls = ListenerRequireTls.Off },
            new("relay", ListenerKind.Relay, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 25), null, null, new SmtpLimits()),
        };
        _store = new SpoolMessageStore(_spool, AutoRequireTls.For(listeners, _history));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _history.Dispose();
        await _spool.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    [Fact]
    public void No_auto_listener_means_no_choice_at_all()
    {
        var off = new ListenerConfig("s", ListenerKind.Submission, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 587), null, null, new SmtpLimits());
        Assert.Null(AutoRequireTls.For([off], _history));
    }

    [Fact]
    public async Task A_submission_over_tls_to_domains_that_all_took_requiretls_is_queued_with_it()
    {
        var entry = await StoreAsync(["bob@secure.example", "carol@Secure.Example", "dan@bücher.example"]);
        Assert.True(entry.Envelope.RequireTls);
        Assert.True(entry.RequiresTls);
        Assert.Equal(RequireTlsPolicy.Default, entry.RequireTlsPolicy);
    }

    [Theory]
    [InlineData("unverified.example")]
    [InlineData("plain.example")]
    [InlineData("norequiretls.example")]
    [InlineData("unknown.example")]
    public async Task One_recipient_domain_not_known_to_take_it_leaves_the_message_as_submitted(string domain)
    {
        var entry = await StoreAsync(["bob@secure.example", "eve@" + domain]);
        Assert.False(entry.Envelope.RequireTls);
        Assert.False(entry.RequiresTls);
    }

    [Theory]
    [InlineData("TLS-Required: No\r\n")]
    [InlineData("tls-required: yes, please\r\n")]
    public async Task A_tls_required_header_is_the_senders_word_and_stays(string header)
    {
        var entry = await StoreAsync(["bob@secure.example"], headers: header);
        Assert.False(entry.Envelope.RequireTls);

        // In the body it is only text.
        entry = await StoreAsync(["bob@secure.example"], body: header);
        Assert.True(entry.Envelope.RequireTls);
    }

    [Fact]
    public async Task Only_authenticated_tls_submission_on_an_auto_listener_qualifies()
    {
        Assert.False((await StoreAsync(["bob@secure.example"], tls: false)).Envelope.RequireTls);
        Assert.False((await StoreAsync(["bob@secure.example"], user: null)).Envelope.RequireTls);
        Assert.False((await StoreAsync(["bob@secure.example"], listener: "quiet")).Envelope.RequireTls);
        Assert.False((await StoreAsync(["bob@secure.example"], listener: "relay")).Envelope.RequireTls);

        // The client's own REQUIRETLS is kept wherever it came from.
        Assert.True((await StoreAsync(["eve@plain.example"], listener: "relay", clientRequireTls: true)).Envelope.RequireTls);
    }

    [Fact]
    public async Task The_choice_follows_the_history_as_deliveries_update_it()
    {
        Assert.False((await StoreAsync(["bob@later.example"])).Envelope.RequireTls);
        _history.Observed("later.example", startTls: true, verified: true, requireTls: true, DateTimeOffset.UtcNow);
        Assert.True((await StoreAsync(["bob@later.example"])).Envelope.RequireTls);
        _history.Observed("later.example", startTls: true, verified: false, requireTls: false, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.False((await StoreAsync(["bob@later.example"])).Envelope.RequireTls);
    }

    /// <summary>Stores one message as the SMTP session does (Received header first) and returns its queue entry.</summary>
    private async Task<QueueEntry> StoreAsync(
        string[] recipients, string headers = "", string body = "body\r\n", bool tls = true, string? user = "alice@example.org", string listener = "submission", bool clientRequireTls = false)
    {
        var envelope = new SmtpEnvelope();
        envelope.SetSender("alice@example.org"u8, new MailFromArguments { RequireTls = clientRequireTls }, []);
        foreach (var r in recipients)
        {
            envelope.AddRecipient(Encoding.UTF8.GetBytes(r), DsnNotify.Unspecified, []);
        }

        envelope.Tls = tls;
        envelope.AuthenticatedUser = user;
        envelope.Listener = listener;
        using var writer = _store.Begin(envelope);
        writer.Write("Received: from client ([127.0.0.1])\r\n\tby tern with ESMTPSA; Sun, 1 Mar 2026 12:00:00 +0000\r\n"u8);
        writer.Write(Encoding.UTF8.GetBytes($"From: alice@example.org\r\n{headers}Subject: auto\r\n\r\n{body}"));
        Assert.Equal(StoreStatus.Stored, await writer.CommitAsync(envelope, CancellationToken.None));
        var id = Encoding.ASCII.GetString(writer.Id);
        await _spool.CaughtUpAsync();
        Assert.True(MessageId.TryParse(id, out var parsed));
        return Assert.Single(_spool.Queue.List(new QueueFilter { Ids = [parsed] }).Entries);
    }
}
