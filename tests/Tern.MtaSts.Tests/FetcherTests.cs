using System.Diagnostics;
using System.Text;
using Tern.MtaSts.Tests.Support;
using Tern.Smtp.Client.Tls;

namespace Tern.MtaSts.Tests;

/// <summary>
/// The policy fetch (RFC 8461 section 3.3) against a real HTTPS server on 127.0.0.1, the policy host's
/// name resolved by knot: what is accepted, and every way it is refused.
/// </summary>
[Collection(NetworkCollection.Name)]
public sealed class FetcherTests(MtaStsDns dns) : IDisposable
{
    public const string Domain = "ok.mtasts.test";
    public const string Host = "mta-sts." + Domain;
    public const string Body = "version: STSv1\r\nmode: enforce\r\nmx: mx1.ok.mtasts.test\r\nmx: *.mx.mtasts.test\r\nmax_age: 604800\r\n";

    private readonly TrustStore _trust = new();

    public void Dispose() => _trust.Dispose();

    private MtaStsFetcher Fetcher(int port, TimeSpan? timeout = null, string? bundle = "") => new(
        dns.Resolver(),
        new MtaStsOptions { Port = port, CaBundlePath = bundle == "" ? dns.Pki.BundlePath : bundle, FetchTimeout = timeout ?? TimeSpan.FromSeconds(10) },
        _trust);

    [Fact]
    public async Task Fetches_and_parses_the_policy_over_verified_https()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), PolicyServer.Reply.Policy(Body));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "20240101T000000");

        Assert.Equal(MtaStsFetchStatus.Ok, result.Status);
        Assert.Null(result.Error);
        Assert.Equal("ok", result.StatusName);
        var policy = result.Policy!;
        Assert.Equal(MtaStsMode.Enforce, policy.Mode);
        Assert.Equal(["mx1.ok.mtasts.test", "*.mx.mtasts.test"], policy.Mx);
        Assert.Equal(604800, policy.MaxAgeSeconds);
        Assert.Equal("20240101T000000", policy.Id);
        // One GET of the well-known path, SNI and Host naming the policy host.
        var seen = Assert.Single(server.Seen);
        Assert.Equal($"{Host}|GET /.well-known/mta-sts.txt HTTP/1.1|{Host}:{server.Port}", seen);
    }

    [Fact]
    public async Task A_policy_host_found_through_a_cname_is_verified_under_its_mta_sts_name()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf("mta-sts.cname.mtasts.test"), PolicyServer.Reply.Policy(Body));
        var result = await Fetcher(server.Port).FetchAsync("CNAME.mtasts.test.", "c1");
        Assert.Equal(MtaStsFetchStatus.Ok, result.Status);
    }

    [Theory]
    [InlineData(301)]
    [InlineData(302)]
    [InlineData(307)]
    [InlineData(308)]
    public async Task A_redirect_is_refused_and_not_followed(int status)
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(status, Location: $"https://{Host}:1/elsewhere.txt"));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");

        Assert.Equal(MtaStsFetchStatus.Redirect, result.Status);
        Assert.Null(result.Policy);
        Assert.Contains($"HTTP {status} redirect to https://{Host}:1/elsewhere.txt not followed", result.Error, StringComparison.Ordinal);
        Assert.Equal(1, server.Requests);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_body_over_64_KiB_is_refused(bool omitLength)
    {
        var body = Body + "x-pad: " + new string('a', MtaStsFetcher.MaxPolicyBytes) + "\n";
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(200, body, OmitLength: omitLength));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");

        Assert.Equal(MtaStsFetchStatus.TooLarge, result.Status);
        Assert.Contains("65536", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_of_exactly_64_KiB_is_read()
    {
        var pad = "x-pad: ";
        var body = Body + pad + new string('a', MtaStsFetcher.MaxPolicyBytes - Body.Length - pad.Length - 1) + "\n";
        Assert.Equal(MtaStsFetcher.MaxPolicyBytes, Encoding.UTF8.GetByteCount(body));
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(200, body, OmitLength: true));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.Ok, result.Status);
    }

    [Fact]
    public async Task A_certificate_from_an_untrusted_root_is_refused()
    {
        await using var server = PolicyServer.Start(dns.Pki.Untrusted(Host), PolicyServer.Reply.Policy(Body));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");

        Assert.Equal(MtaStsFetchStatus.TlsError, result.Status);
        Assert.Contains("certificate not valid", result.Error, StringComparison.Ordinal);
        Assert.Contains("certificate chain", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, server.Requests);
    }

    [Fact]
    public async Task A_certificate_for_another_name_is_refused()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf("mta-sts.other.mtasts.test"), PolicyServer.Reply.Policy(Body));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");

        Assert.Equal(MtaStsFetchStatus.TlsError, result.Status);
        Assert.Contains($"do not match {Host}", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, server.Requests);
    }

    [Fact]
    public async Task An_expired_certificate_is_refused()
    {
        await using var server = PolicyServer.Start(dns.Pki.Expired(Host), PolicyServer.Reply.Policy(Body));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.TlsError, result.Status);
        Assert.Contains("NotTimeValid", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_bundle_the_system_roots_are_used_and_the_test_root_is_not_among_them()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), PolicyServer.Reply.Policy(Body));
        var result = await Fetcher(server.Port, bundle: null).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.TlsError, result.Status);
    }

    [Fact]
    public async Task A_missing_bundle_is_a_tls_error_that_names_it()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), PolicyServer.Reply.Policy(Body));
        var missing = Path.Combine(dns.Pki.Dir, "missing.pem");
        var result = await Fetcher(server.Port, bundle: missing).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.TlsError, result.Status);
        Assert.Contains(missing, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_does_not_answer_times_out()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(200, Hang: true));
        var clock = Stopwatch.StartNew();
        var result = await Fetcher(server.Port, TimeSpan.FromMilliseconds(500)).FetchAsync(Domain, "i1");

        Assert.Equal(MtaStsFetchStatus.Timeout, result.Status);
        Assert.Contains("within 0.5 s", result.Error, StringComparison.Ordinal);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task The_timeout_covers_a_body_that_trickles()
    {
        // Headers at once, then nothing: the body read is inside the same deadline.
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(200, Body, BodyDelay: TimeSpan.FromSeconds(30)));
        var result = await Fetcher(server.Port, TimeSpan.FromMilliseconds(300)).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.Timeout, result.Status);
    }

    [Theory]
    [InlineData(404)]
    [InlineData(500)]
    [InlineData(204)]
    public async Task A_status_other_than_200_is_an_http_error(int status)
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(status, Body));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");

        Assert.Equal(MtaStsFetchStatus.HttpError, result.Status);
        Assert.Contains($"HTTP {status}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_invalid_policy_is_refused()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), PolicyServer.Reply.Policy("version: STSv1\nmode: enforce\nmax_age: 60\n"));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.Invalid, result.Status);
        Assert.Contains("mx missing", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_that_is_not_utf8_is_refused()
    {
        var bytes = Encoding.ASCII.GetBytes(Body + "x: ").Concat(new byte[] { 0xff, 0xfe, (byte)'\n' }).ToArray();
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(200, RawBody: bytes));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.Invalid, result.Status);
        Assert.Contains("not UTF-8", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("text/html")]
    [InlineData(null)]
    public async Task The_media_type_is_not_checked(string? contentType)
    {
        // mox's behaviour: a valid policy counts whatever its Content-Type (see MtaStsFetcher).
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(200, Body, ContentType: contentType));
        var result = await Fetcher(server.Port).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.Ok, result.Status);
    }

    [Fact]
    public async Task A_policy_host_without_an_address_is_a_dns_error()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf("mta-sts.noaddr.mtasts.test"), PolicyServer.Reply.Policy(Body));
        var result = await Fetcher(server.Port).FetchAsync("noaddr.mtasts.test", "n1");

        Assert.Equal(MtaStsFetchStatus.DnsError, result.Status);
        Assert.Contains("mta-sts.noaddr.mtasts.test has no address (A: NxDomain", result.Error, StringComparison.Ordinal);
        Assert.Equal(0, server.Connections);
    }

    [Fact]
    public async Task A_refused_connection_is_an_http_error()
    {
        int port;
        await using (var closed = PolicyServer.Start(dns.Pki.Leaf(Host), PolicyServer.Reply.Policy(Body)))
            port = closed.Port;
        var result = await Fetcher(port).FetchAsync(Domain, "i1");
        Assert.Equal(MtaStsFetchStatus.HttpError, result.Status);
        Assert.Contains("Connection refused", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancellation_by_the_caller_throws()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(Host), new PolicyServer.Reply(200, Hang: true));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Fetcher(server.Port).FetchAsync(Domain, "i1", cancel.Token));
    }
}
