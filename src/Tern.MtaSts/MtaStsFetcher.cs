using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Tern.Dns;
using Tern.Smtp.Client;
using Tern.Smtp.Client.Tls;

namespace Tern.MtaSts;

/// <summary>
/// Fetches <c>https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c> (RFC 8461 section 3.3): one GET over
/// HTTP/1.1, the host's addresses from Tern's resolver (<see cref="PolicyHostConnector"/>), its
/// certificate PKIX-checked for mta-sts.DOMAIN by the SMTP client's <see cref="TlsVerifier"/> (against
/// <see cref="MtaStsOptions.CaBundlePath"/> or the system roots), no redirects followed, only status
/// 200, at most <see cref="MaxPolicyBytes"/> of body, all within <see cref="MtaStsOptions.FetchTimeout"/>.
/// No proxy, cookies, compression or connection reuse. Thread-safe; each fetch has its own handler.
/// </summary>
/// <remarks>
/// The media type is not checked. Section 3.2 says the policy is served as text/plain and senders
/// SHOULD check it (against sites where users can upload other content at that path); mox, the
/// reference here, does not, and neither does Tern: a body that is not a policy fails the strict
/// parser anyway, and refusing a valid policy for its Content-Type would only ever lower protection.
/// </remarks>
public sealed class MtaStsFetcher
{
    /// <summary>RFC 8461 section 3.3: "a maximum size of 64 KB" (read as KiB, as mox does).</summary>
    public const int MaxPolicyBytes = 64 * 1024;

    /// <summary>The policy's path on the policy host (RFC 8461 section 3.2).</summary>
    public const string WellKnownPath = "/.well-known/mta-sts.txt";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly ProductInfoHeaderValue UserAgent = new("Tern-MTA-STS", "1");

    private readonly IDnsResolver _dns;
    private readonly MtaStsOptions _options;
    private readonly TrustStore _trust;
    private readonly TimeProvider _time;

    /// <param name="dns">Resolves mta-sts.DOMAIN (A and AAAA).</param>
    /// <param name="options">Port, timeout and CA bundle.</param>
    /// <param name="trustStore">Parsed CA bundles, shared with the SMTP client; the caller disposes it.</param>
    /// <param name="time">For the fetch timeout.</param>
    public MtaStsFetcher(IDnsResolver dns, MtaStsOptions options, TrustStore trustStore, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(trustStore);
        options.Validate();
        _dns = dns;
        _options = options;
        _trust = trustStore;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Fetches and parses the policy of <paramref name="domain"/>. Never throws for network, TLS, HTTP
    /// or policy errors (they are the result's <see cref="MtaStsFetchResult.Status"/> and error text);
    /// throws only when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    /// <param name="domain">The policy domain (the recipient domain).</param>
    /// <param name="id">The id of its TXT record, stored with the policy.</param>
    public async Task<MtaStsFetchResult> FetchAsync(string domain, string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(id);
        if (!DomainName.TryNormalize(domain, out var normalized, out var nameError))
            return new MtaStsFetchResult(MtaStsFetchStatus.DnsError, null, nameError);
        var host = "mta-sts." + normalized;
        var connector = new PolicyHostConnector(_dns, host, _options.Port);
        string? certificateError = null;

        using var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = 1,
            MaxResponseHeadersLength = 16, // KiB
            ConnectCallback = (_, token) => connector.ConnectAsync(token),
            SslOptions = new SslClientAuthenticationOptions
            {
                TargetHost = host,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                {
                    if (certificate is not X509Certificate2 leaf)
                    {
                        certificateError = "the server sent no certificate";
                        return false;
                    }
                    // Trust is decided here, with Tern's roots and name rules, not by SslPolicyErrors.
                    var tls = new ClientTlsOptions { ServerName = host, VerifyPkix = true, CaBundlePath = _options.CaBundlePath };
                    var verification = TlsVerifier.Verify(leaf, chain, tls, _trust);
                    certificateError = verification.PkixError;
                    return verification.PkixValid;
                },
            },
        };
        using var client = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        using var timeout = new CancellationTokenSource(_options.FetchTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var uri = new Uri(_options.Port == 443 ? $"https://{host}{WellKnownPath}" : $"https://{host}:{_options.Port}{WellKnownPath}");
        using var request = new HttpRequestMessage(HttpMethod.Get, uri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.ConnectionClose = true; // policies are cached; the connection is never reused
        request.Headers.UserAgent.Add(UserAgent);

        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (status is >= 300 and < 400)
            {
                var location = response.Headers.Location is { } target ? " to " + target : "";
                return Failed(MtaStsFetchStatus.Redirect, $"{uri}: HTTP {status} redirect{location} not followed (RFC 8461 section 3.3)");
            }
            if (status != 200)
                return Failed(MtaStsFetchStatus.HttpError, $"{uri}: HTTP {status} {response.ReasonPhrase}".TrimEnd());
            if (response.Content.Headers.ContentLength > MaxPolicyBytes)
                return Failed(MtaStsFetchStatus.TooLarge, $"{uri}: policy of {response.Content.Headers.ContentLength} bytes, more than {MaxPolicyBytes}");

            var body = new byte[MaxPolicyBytes + 1];
            var length = 0;
            await using (var stream = await response.Content.ReadAsStreamAsync(linked.Token))
            {
                int read;
                while (length < body.Length && (read = await stream.ReadAsync(body.AsMemory(length), linked.Token)) > 0)
                    length += read;
            }
            if (length > MaxPolicyBytes)
                return Failed(MtaStsFetchStatus.TooLarge, $"{uri}: policy larger than {MaxPolicyBytes} bytes");

            string text;
            try
            {
                text = StrictUtf8.GetString(body, 0, length);
            }
            catch (DecoderFallbackException)
            {
                return Failed(MtaStsFetchStatus.Invalid, $"{uri}: policy is not UTF-8");
            }
            if (!MtaStsPolicy.TryParse(text, id, out var policy, out var parseError))
                return Failed(MtaStsFetchStatus.Invalid, $"{uri}: {parseError}");
            return new MtaStsFetchResult(MtaStsFetchStatus.Ok, policy, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed(MtaStsFetchStatus.Timeout, $"{uri}: no complete answer within {_options.FetchTimeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or AuthenticationException)
        {
            if (connector.DnsError is { } dnsError)
                return Failed(MtaStsFetchStatus.DnsError, $"{uri}: {dnsError}");
            if (certificateError is not null)
                return Failed(MtaStsFetchStatus.TlsError, $"{uri}: certificate not valid: {certificateError}");
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } || HasInner<AuthenticationException>(e))
                return Failed(MtaStsFetchStatus.TlsError, $"{uri}: TLS handshake failed: {Describe(e)}");
            return Failed(MtaStsFetchStatus.HttpError, $"{uri}: {Describe(e)}");
        }
    }

    private static MtaStsFetchResult Failed(MtaStsFetchStatus status, string error) => new(status, null, error);

    private static bool HasInner<T>(Exception e)
        where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is T)
                return true;
        }
        return false;
    }

    /// <summary>The message and the innermost cause ("An error occurred while sending the request: Connection refused").</summary>
    private static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null)
            inner = inner.InnerException;
        return ReferenceEquals(inner, e) || e.Message.Contains(inner.Message, StringComparison.Ordinal) ? e.Message : $"{e.Message}: {inner.Message}";
    }
}
