using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tern.Tests.Support;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Two published Terns and the world around them for <see cref="RequireTlsTests"/>, started once per class:
/// <list type="bullet">
/// <item>knot, authoritative for secure.test (DNSSEC-signed by knot) and plain.test (unsigned); unbound
/// validating secure.test with its DS as trust anchor. Sender Tern asks unbound (on loopback, so its AD bit
/// is trusted).</item>
/// <item>Receiver Tern ("B", mx.secure.test) on <see cref="ReceiverAddress"/>: a relay listener with a certificate
/// made here, whose key the TLSA record "3 1 1" of mx.secure.test pins; mx.secure.test is also the MX of
/// notices.secure.test, a sender domain whose failure notices (sent with REQUIRETLS, RFC 8689 section 4.4)
/// come back to B under DANE; mx-mismatch.secure.test (the MX of mismatch.secure.test) is the same server
/// under a TLSA record of another key. Delivery is off: what it receives stays in its queue, to be inspected
/// with <c>tern queue show</c> and <c>tern queue cat</c>.</item>
/// <item>Postfix's smtp-sink as the MX of plain.test on <see cref="PlainMxAddress"/> (no STARTTLS, no REQUIRETLS),
/// dumping what it receives into a directory.</item>
/// <item>Sender Tern ("A", out.sender.test): a relay listener on 127.0.0.1, direct delivery to port
/// <see cref="SmtpPort"/> of every MX (the port both MX servers share on their own 127.0.0.x).</item>
/// </list>
/// </summary>
public sealed class RequireTlsFixture : IAsyncLifetime
{
    public const string SecureDomain = "secure.test";
    public const string MismatchDomain = "mismatch.secure.test";
    public const string PlainDomain = "plain.test";
    public const string SenderDomain = "sender.test";
    public const string NoticeDomain = "notices.secure.test";
    public const string ReceiverHost = "mx.secure.test";
    public const string MismatchHost = "mx-mismatch.secure.test";

    // One address per MX server (Linux routes all of 127/8 to lo); the same port on each, as direct_port says.
    public const string ReceiverAddress = "127.0.0.51";
    public const string PlainMxAddress = "127.0.0.52";

    private readonly TempDir _dir = new();
    private readonly List<IDisposable> _daemons = [];

    internal TempDir Dir => _dir;

    /// <summary>The port every MX server listens on (A's <c>[delivery] direct_port</c>).</summary>
    public int SmtpPort { get; private set; }

    /// <summary>SHA-256 of the receiver's SubjectPublicKeyInfo: the data of its TLSA 3 1 1 record.</summary>
    public string ReceiverSpkiSha256 { get; private set; } = string.Empty;

    internal TernProcess Sender { get; private set; } = null!;

    public string SenderConfig { get; private set; } = string.Empty;

    public string SenderDir { get; private set; } = string.Empty;

    public int SenderHttpPort { get; private set; }

    public IPEndPoint SenderRelay { get; private set; } = null!;

    internal TernProcess Receiver { get; private set; } = null!;

    public string ReceiverConfig { get; private set; } = string.Empty;

    public string ReceiverDir { get; private set; } = string.Empty;

    public IPEndPoint ReceiverMx { get; private set; } = null!;

    /// <summary>What the plain.test sink received (one file per transaction).</summary>
    public string PlainDump { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        SmtpPort = FreeOnAll(ReceiverAddress, PlainMxAddress);
        ReceiverSpkiSha256 = WriteReceiverCertificate(Path.Combine(_dir.Path, "receiver"));

        try
        {
            var receiver = StartReceiverAsync();
            var plain = StartSinkAsync("plain-mx", PlainMxAddress, "mx.plain.test");
            var unbound = StartDnsAsync();
            await Task.WhenAll(receiver, plain, unbound);
            PlainDump = await plain;
            await StartSenderAsync(await unbound);
        }
        catch
        {
            // xunit does not dispose a fixture whose start failed: stop what did start.
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (Sender is { } sender)
        {
            Sender = null!;
            await sender.DisposeAsync();
        }

        if (Receiver is { } receiver)
        {
            Receiver = null!;
            await receiver.DisposeAsync();
        }

        lock (_daemons)
        {
            foreach (var d in _daemons)
            {
                d.Dispose();
            }

            _daemons.Clear();
        }

        _dir.Dispose();
    }

    /// <summary>Kept for <see cref="DisposeAsync"/>; the servers start concurrently.</summary>
    private void Own(IDisposable daemon)
    {
        lock (_daemons)
        {
            _daemons.Add(daemon);
        }
    }

    /// <summary>The zone the receiver's key is published in: DANE-EE for mx (the MX of secure.test and notices.secure.test), a record of another key for mx-mismatch.</summary>
    private string SecureZone(string otherKeySha256) => $"""
        $ORIGIN {SecureDomain}.
        $TTL 60
        @                SOA ns hostmaster 1 3600 600 86400 60
        @                NS ns
        ns               A 127.0.0.1
        @                MX 10 mx
        mx               A {ReceiverAddress}
        _25._tcp.mx      TLSA 3 1 1 {ReceiverSpkiSha256}
        notices          MX 10 mx
        mismatch         MX 10 mx-mismatch
        mx-mismatch      A {ReceiverAddress}
        _25._tcp.mx-mismatch TLSA 3 1 1 {otherKeySha256}
        """;

    private static string UnsignedZone(string domain, string mxAddress) => $"""
        $ORIGIN {domain}.
        $TTL 60
        @                SOA ns hostmaster 1 3600 600 86400 60
        @                NS ns
        ns               A 127.0.0.1
        @                MX 10 mx
        mx               A {mxAddress}
        """;

    private async Task<IPEndPoint> StartDnsAsync()
    {
        var dns = Path.Combine(_dir.Path, "dns");
        Directory.CreateDirectory(dns);
        string other;
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            other = Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));
        }

        var zones = new Dictionary<string, string>
        {
            [SecureDomain] = SecureZone(other),
            [PlainDomain] = UnsignedZone(PlainDomain, PlainMxAddress),
        };
        var knot = await KnotServer.StartAsync(dns, zones, SecureDomain, signed: new HashSet<string> { SecureDomain });
        Own(knot);
        var anchors = await KnotServer.DsRecordsAsync(dns, SecureDomain);
        var unbound = await UnboundServer.StartAsync(dns, knot.EndPoint, zones.Keys, anchors, ["test"], SecureDomain);
        Own(unbound);
        return unbound.EndPoint;
    }

    private async Task StartReceiverAsync()
    {
        ReceiverDir = Path.Combine(_dir.Path, "receiver");
        ReceiverConfig = Path.Combine(ReceiverDir, "tern.toml");
        await File.WriteAllTextAsync(ReceiverConfig, $"""
            hostname = "{ReceiverHost}"
            data_dir = "data"
            [relay]
            domains = ["{SecureDomain}", "{MismatchDomain}", "{NoticeDomain}"]
            [delivery]
            enabled = false
            [shutdown]
            grace = "1s"
            [http]
            listen = "127.0.0.1:{TestPorts.Free()}"
            [listeners.mx]
            kind = "relay"
            address = "{ReceiverAddress}:{SmtpPort}"
            tls_cert = "mx.crt"
            tls_key = "mx.key"
            """);
        Receiver = TernProcess.Start(ReceiverDir, "serve", "-c", ReceiverConfig);
        ReceiverMx = await Receiver.ListenerAsync("mx");
    }

    private async Task StartSenderAsync(IPEndPoint unbound)
    {
        SenderDir = Path.Combine(_dir.Path, "sender");
        Directory.CreateDirectory(SenderDir);
        SenderConfig = Path.Combine(SenderDir, "tern.toml");
        SenderHttpPort = TestPorts.Free();
        await File.WriteAllTextAsync(SenderConfig, $"""
            hostname = "out.{SenderDomain}"
            data_dir = "data"
            [dns]
            servers = ["{unbound}"]
            timeout = "2s"
            [delivery]
            direct_port = {SmtpPort}
            connect_timeout = "5s"
            first_retry = "1h"
            [shutdown]
            grace = "1s"
            [http]
            listen = "127.0.0.1:{SenderHttpPort}"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"
            """);
        Sender = TernProcess.Start(SenderDir, "serve", "-c", SenderConfig);
        SenderRelay = await Sender.ListenerAsync("relay");
    }

    /// <summary>smtp-sink on <paramref name="address"/>:<see cref="SmtpPort"/>, dumping each transaction into its own file; returns the directory.</summary>
    private async Task<string> StartSinkAsync(string name, string address, string hostname)
    {
        // smtp-sink drops to nobody when run as root: it must reach the dump directory (the test directory is owner-only) and write into it.
        var dump = Path.Combine(_dir.Path, name);
        Directory.CreateDirectory(dump);
        File.SetUnixFileMode(_dir.Path, File.GetUnixFileMode(_dir.Path) | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(dump, (UnixFileMode)0x1FF);
        string[] user = Environment.IsPrivilegedProcess ? ["-u", "nobody"] : [];
        var endPoint = new IPEndPoint(IPAddress.Parse(address), SmtpPort);
        var sink = LoopbackDaemon.Start("smtp-sink", [.. user, "-h", hostname, "-d", dump + "/%M.", $"{address}:{SmtpPort}", "64"], endPoint);
        Own(sink);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(endPoint);
                return dump;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !sink.HasExited)
            {
                await Task.Delay(20);
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"smtp-sink on {endPoint} did not start: {e.Message}\n{sink.Log}");
            }
        }
    }

    /// <summary>
    /// The receiver's certificate (self-signed P-256 for mx.secure.test) and key as PEM files in <paramref name="dir"/>;
    /// returns the SHA-256 of its SubjectPublicKeyInfo, computed here from the key, apart from Tern.
    /// </summary>
    private static string WriteReceiverCertificate(string dir)
    {
        Directory.CreateDirectory(dir);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={ReceiverHost}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(ReceiverHost);
        request.CertificateExtensions.Add(san.Build());
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        File.WriteAllText(Path.Combine(dir, "mx.crt"), certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(dir, "mx.key"), key.ExportPkcs8PrivateKeyPem() + "\n");
        File.SetUnixFileMode(Path.Combine(dir, "mx.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>A TCP port free on each of <paramref name="addresses"/>.</summary>
    private static int FreeOnAll(params string[] addresses)
    {
        for (var i = 0; i < 20; i++)
        {
            var port = TestPorts.Free();
            var free = true;
            foreach (var address in addresses)
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    s.Bind(new IPEndPoint(IPAddress.Parse(address), port));
                }
                catch (SocketException)
                {
                    free = false;
                    break;
                }
            }

            if (free)
            {
                return port;
            }
        }

        throw new InvalidOperationException($"no TCP port free on all of {string.Join(", ", addresses)}");
    }
}
