using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tern.Config;
using Tern.Hosting;
using Tern.Smtp.Server;

namespace Tern.Cli;

/// <summary>
/// <c>tern dane tlsa [HOST]</c>: the TLSA records to publish for the certificates Tern's listeners
/// present, so that sending MTAs can authenticate this server with DANE (RFC 7672). Reads the
/// configuration and the certificate files only; the server need not run.
/// </summary>
internal static class DaneCommands
{
    /// <summary>
    /// The port in the record's owner name: SMTP DANE is looked up at the MX host's port 25
    /// (RFC 7672 section 2.2.3), whatever address and port the relay listener itself binds.
    /// </summary>
    private const int SmtpPort = 25;

    public static Command Build(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption)
    {
        var config = configOption();
        var host = new Argument<string?>("host")
        {
            Description = "The MX host name the records are for (default: the configured hostname).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        host.Validators.Add(r =>
        {
            foreach (var token in r.Tokens)
            {
                if (!ConfigLoader.IsDomainName(token.Value.TrimEnd('.')))
                {
                    r.AddError($"\"{token.Value}\" is not a host name (letters, digits, '-' and '.')");
                }
            }
        });
        var tlsa = new Command(
            "tlsa",
            "Print the DANE-EE TLSA record (3 1 1: SHA-256 of the public key) to publish at _25._tcp.HOST for each certificate "
            + "the relay listeners present. The record pins the key: renewing a certificate with the same key keeps it valid.")
        {
            config, host,
        };
        tlsa.SetAction(r =>
        {
            var loaded = TernCommandLine.LoadOrReport(r.GetValue(config), stderr);
            if (loaded is null)
            {
                return ExitCodes.Config;
            }

            var name = (r.GetValue(host) ?? loaded.Hostname).TrimEnd('.').ToLowerInvariant();
            return Print(loaded, name, stdout, stderr);
        });
        return new Command("dane", "DANE for SMTP (RFC 7672): what to publish in DNSSEC-signed DNS so that senders can authenticate this server.") { tlsa };
    }

    /// <summary>
    /// One record per distinct certificate; those no relay listener presents are printed commented
    /// out (as is a problem reading one of them). A relay listener's certificate that cannot be read
    /// fails the command.
    /// </summary>
    private static int Print(TernConfig config, string host, TextWriter stdout, TextWriter stderr)
    {
        var selfSigned = Path.Combine(config.DataDirectory, "tls", SelfSignedCertificate.CertificateFile);
        var certificates = new List<(string Path, List<ListenerConfig> Listeners)>();
        foreach (var listener in config.Listeners)
        {
            var path = listener.TlsCertificate ?? selfSigned;
            var index = certificates.FindIndex(c => c.Path == path);
            if (index < 0)
            {
                certificates.Add((path, [listener]));
            }
            else
            {
                certificates[index].Listeners.Add(listener);
            }
        }

        if (certificates.Count == 0)
        {
            stderr.WriteLine($"tern: {config.Source} has no listeners: no certificate to publish a record for");
            return ExitCodes.Failure;
        }

        var records = new List<string>();
        foreach (var (path, listeners) in certificates)
        {
            var relay = listeners.Any(l => l.Kind == ListenerKind.Relay);
            var names = string.Join(", ", listeners.Select(l => $"{l.Name} ({Kind(l.Kind)} {l.Address})"));
            X509Certificate2 certificate;
            try
            {
                certificate = LoadLeaf(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                var hint = path == selfSigned && !File.Exists(path)
                    ? " (tern serve generates this self-signed certificate on its first start; or set tls_cert and tls_key on the listener)"
                    : "";
                var problem = $"cannot read the certificate of listener{(listeners.Count == 1 ? "" : "s")} {names}: {e.Message}{hint}";
                if (relay)
                {
                    // A record missing for one relay listener's key would make DANE fail there: print none.
                    stderr.WriteLine("tern: " + problem);
                    return ExitCodes.Failure;
                }

                records.Add($"; {problem}");
                continue;
            }

            using (certificate)
            {
                var hash = Convert.ToHexStringLower(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));
                var expires = certificate.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                records.Add($"; {path}: {certificate.Subject}, expires {expires}; listeners {names}"
                    + (relay ? "" : "\n; not presented by a relay listener (port 25 is where senders look), so not to publish for DANE"));
                records.Add($"{(relay ? "" : "; ")}_{SmtpPort}._tcp.{host}. IN TLSA 3 1 1 {hash}");
            }
        }

        stdout.WriteLine($"; DANE-EE TLSA records for {host} (RFC 7672): usage 3, selector 1 (SubjectPublicKeyInfo), matching type 1 (SHA-256).");
        stdout.WriteLine("; Publish them in the DNSSEC-signed zone of the MX host. The record pins the public key, not the certificate:");
        stdout.WriteLine("; a certificate renewed with the same key keeps it valid; before switching to a new key, publish its record next to the old one.");
        foreach (var line in records)
        {
            stdout.WriteLine(line);
        }

        return ExitCodes.Ok;
    }

    /// <summary>The first certificate of a PEM chain file: the leaf, which the listener presents first.</summary>
    private static X509Certificate2 LoadLeaf(string path)
    {
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(path);
        if (chain.Count == 0)
        {
            throw new CryptographicException($"{path} holds no PEM certificate");
        }

        for (var i = 1; i < chain.Count; i++)
        {
            chain[i].Dispose();
        }

        return chain[0];
    }

    private static string Kind(ListenerKind kind) => kind.ToString().ToLowerInvariant();
}
