using System.Net;
using Tern.Observability.Logging;
using Tern.Smtp.Server;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Syntax;
using Tomlyn.Serialization;

namespace Tern.Config;

/// <summary>
/// Reads the TOML configuration file into a <see cref="TernConfig"/>. Unknown keys, wrong types and bad
/// values are all reported at once, each naming the file, line and key. Relative paths in a file are
/// resolved against the file's directory; in the embedded default, against the working directory.
/// </summary>
public static partial class ConfigLoader
{
    public const int DefaultRelayPort = 2525;
    public const int DefaultSubmissionPort = 5587;
    public const int DefaultHttpPort = 9464;

    /// <summary>The configuration used when no file is given.</summary>
    public static TernConfig Default() => Parse(string.Empty, TernConfig.EmbeddedSource, Directory.GetCurrentDirectory());

    public static TernConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException([new ConfigError(path, 0, string.Empty, "cannot read the configuration file: " + e.Message)]);
        }

        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? Directory.GetCurrentDirectory();
        return Parse(text, path, dir);
    }

    /// <summary>The fully commented example configuration (<c>tern config example</c>).</summary>
    public static string Example()
    {
        using var stream = typeof(ConfigLoader).Assembly.GetManifestResourceStream("tern.example.toml")
            ?? throw new InvalidOperationException("the example configuration is missing from the binary");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static TernConfig Parse(string text, string sourceName, string baseDirectory)
    {
        var metadata = new TomlMetadataStore();
        var options = new TomlSerializerOptions
        {
            MetadataStore = metadata,
            SourceName = sourceName,
            DuplicateKeyHandling = TomlDuplicateKeyHandling.Error,
        };

        // The syntax tree validates the whole document (syntax, duplicate keys and tables) and
        // reports every problem with its position; only a valid document is mapped.
        var document = ParseSyntax(text, sourceName);
        if (document.HasErrors)
        {
            throw new ConfigException(document.Diagnostics
                .Where(d => d.Kind == DiagnosticMessageKind.Error)
                .Select(d => new ConfigError(sourceName, d.Span.Start.Line + 1, string.Empty, "syntax error: " + d.Message))
                .ToList());
        }

        TomlTable root;
        try
        {
            root = DeserializeModel(text, document, new TomlModelContext(options));
        }
        catch (TomlException e)
        {
            throw new ConfigException([new ConfigError(sourceName, e.Line is > 0 and var line ? line : 0, string.Empty, "syntax error: " + SyntaxMessage(e))]);
        }

        var errors = new List<ConfigError>();
        var top = new ConfigTable(sourceName, string.Empty, 0, root, metadata, errors);
        var config = Bind(top, sourceName, baseDirectory);
        top.Finish();
        if (errors.Count > 0)
        {
            throw new ConfigException(errors.OrderBy(e => e.Line).ToList());
        }

        return config;
    }

    /// <summary>
    /// Tomlyn's syntax tree. Some malformed documents make it throw instead of reporting a diagnostic
    /// (found by fuzzing, tests/Tern.Fuzz/crashes/config): arrays or tables nested deeper than its
    /// limit (TomlException), and escapes it cannot describe in its message, such as a \U escape cut
    /// short by the end of the file (ArgumentOutOfRangeException). Both are syntax errors like the others.
    /// </summary>
    private static DocumentSyntax ParseSyntax(string text, string sourceName)
    {
        try
        {
            return SyntaxParser.Parse(text, sourceName);
        }
        catch (TomlException e)
        {
            throw new ConfigException([new ConfigError(sourceName, e.Line is > 0 and var line ? line : 0, string.Empty, "syntax error: " + SyntaxMessage(e))]);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new ConfigException([new ConfigError(sourceName, 0, string.Empty, "syntax error: a string with an invalid escape sequence or character")]);
        }
    }

    private static string SyntaxMessage(TomlException e)
    {
        // Tomlyn prefixes "name(line,col) : error : "; keep only the explanation.
        var msg = e.Message;
        var marker = msg.LastIndexOf(": error :", StringComparison.Ordinal);
        return (marker >= 0 ? msg[(marker + 9)..] : msg).Trim();
    }

    private static TernConfig Bind(ConfigTable top, string sourceName, string baseDirectory)
    {
        var hostname = top.String("hostname", DefaultHostname());
        if (!IsDomainName(hostname))
        {
            top.Error("hostname", $"\"{hostname}\" is not a valid host name (letters, digits, '-' and '.')");
        }

        var dataDir = top.String("data_dir", "./data");
        if (dataDir.Length == 0)
        {
            top.Error("data_dir", "must not be empty");
        }

        var log = BindLog(top.Table("log"));
        var http = BindHttp(top.Table("http"), baseDirectory);
        var relay = BindRelay(top.Table("relay"));
        var limits = new SmtpLimits();
        if (top.Table("smtp") is { } smtp)
        {
            limits = BindLimits(smtp, limits);
            smtp.Finish();
        }

        var listeners = BindListeners(top.Table("listeners"), baseDirectory, limits);
        var auth = BindAuth(top.Table("auth"));
        var injection = BindInjection(top.Table("injection"), limits);
        var grace = TimeSpan.FromSeconds(10);
        if (top.Table("shutdown") is { } shutdown)
        {
            grace = shutdown.Duration("grace", grace, TimeSpan.Zero, TimeSpan.FromMinutes(10));
            shutdown.Finish();
        }

        var spool = BindSpool(top.Table("spool"));
        var dns = BindDns(top.Table("dns"));
        var delivery = BindDelivery(top.Table("delivery"), top.Table("transports"), top.TableArray("routes"), top.TableArray("destinations"), baseDirectory);
        return new TernConfig
        {
            Source = sourceName,
            Hostname = hostname,
            DataDirectory = Path.GetFullPath(dataDir, baseDirectory),
            Log = log,
            Http = http,
            Relay = relay,
            Listeners = listeners,
            Auth = auth,
            ShutdownGrace = grace,
            Spool = spool,
            Dns = dns,
            Delivery = delivery,
            Injection = injection,
        };
    }

    private static SpoolConfig BindSpool(ConfigTable? t)
    {
        var d = new SpoolConfig();
        if (t is null)
        {
            return d;
        }

        var config = new SpoolConfig
        {
            CommitDelay = t.Duration("commit_delay", d.CommitDelay, TimeSpan.Zero, TimeSpan.FromMilliseconds(100)),
            CommitBatch = (int)t.Integer("commit_batch", d.CommitBatch, 1, 1_000_000),
            CompressAbove = t.Size("compress_above", d.CompressAbove, 1024, 1L << 30),
            CompressionLevel = (int)t.Integer("compression_level", d.CompressionLevel, 1, 19),
            CheckpointInterval = t.Duration("checkpoint_interval", d.CheckpointInterval, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
            CheckpointBytes = t.Size("checkpoint_bytes", d.CheckpointBytes, 1L << 20, 64L << 30),
            Retention = t.Duration("retention", d.Retention, TimeSpan.Zero, TimeSpan.FromDays(365)),
            CompactAbove = t.Size("compact_above", d.CompactAbove, 64L << 20, 1L << 50),
            LogMemory = PowerOfTwo(t, "log_memory", d.LogMemory, 4L << 20),
            IndexMemory = PowerOfTwo(t, "index_memory", d.IndexMemory, 1L << 20),
            IndexTable = PowerOfTwo(t, "index_table", d.IndexTable, 1L << 20),
            MinFree = t.Size("min_free", d.MinFree, 0, 1L << 50),
        };
        t.Finish();
        return config;
    }

    private static long PowerOfTwo(ConfigTable t, string key, long fallback, long min)
    {
        var value = t.Size(key, fallback, min, 16L << 30);
        if (!long.IsPow2(value))
        {
            t.Error(key, $"must be a power of two (like 32MiB, 64MiB, 128MiB), not {value} bytes");
            return fallback;
        }

        return value;
    }

    private static LogConfig BindLog(ConfigTable? t)
    {
        var level = TernLogLevel.Info;
        var components = new Dictionary<string, TernLogLevel>(StringComparer.Ordinal);
        if (t is null)
        {
            return new LogConfig(level, components);
        }

        var name = t.String("level", "info");
        if (!TernLogLevels.TryParse(name, out level))
        {
            t.Error("level", $"unknown level \"{name}\"; expected one of {string.Join(", ", TernLogLevels.Names)}");
        }

        if (t.Table("components") is { } c)
        {
            foreach (var (component, value) in c.StringEntries())
            {
                if (!LogComponents.All.Contains(component))
                {
                    c.Error(component, $"unknown component; expected one of {string.Join(", ", LogComponents.All)}");
                }
                else if (!TernLogLevels.TryParse(value, out var cl))
                {
                    c.Error(component, $"unknown level \"{value}\"; expected one of {string.Join(", ", TernLogLevels.Names)}");
                }
                else
                {
                    components[component] = cl;
                }
            }

            c.Finish();
        }

        t.Finish();
        return new LogConfig(level, components);
    }

    private static HttpConfig BindHttp(ConfigTable? t, string baseDirectory)
    {
        var listen = new IPEndPoint(IPAddress.Loopback, DefaultHttpPort);
        if (t is null)
        {
            return new HttpConfig(listen);
        }

        if (t.OptionalString("listen") is { } text)
        {
            if (ConfigValues.TryParseEndpoint(text, out var ep) && ep.Port != 0)
            {
                listen = ep;
            }
            else
            {
                t.Error("listen", $"expected an address and port such as \"127.0.0.1:{DefaultHttpPort}\" or \"[::1]:{DefaultHttpPort}\", got \"{text}\"");
            }
        }

        // The admin API's bearer token: inline, or a file read now so that a bad one stops the start
        // (and tern config check) with its key; without either, DATA/http-admin.token is generated.
        var token = t.OptionalString("admin_token");
        if (token is not null && Admin.AdminToken.Check(token) is { } problem)
        {
            t.Error("admin_token", problem);
        }

        var tokenFile = ResolveFile(t, "admin_token_file", baseDirectory);
        if (tokenFile is not null && File.Exists(tokenFile))
        {
            try
            {
                Admin.AdminToken.ReadFile(tokenFile);
            }
            catch (Admin.AdminTokenException e)
            {
                t.Error("admin_token_file", e.Message);
            }
        }

        if (token is not null && tokenFile is not null)
        {
            t.Error("admin_token", "set admin_token or admin_token_file, not both");
        }

        t.Finish();
        return new HttpConfig(listen, tokenFile, token);
    }

    private static RelayConfig BindRelay(ConfigTable? t)
    {
        IReadOnlyList<IPNetwork> loopback = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")];
        if (t is null)
        {
            return new RelayConfig(loopback, []);
        }

        var networks = new List<IPNetwork>();
        var texts = t.StringArray("networks");
        foreach (var text in texts ?? [])
        {
            if (!ConfigValues.TryParseNetwork(text, out var network))
            {
                t.Error("networks", $"\"{text}\" is not an address or network such as \"192.0.2.0/24\"");
            }
            else if (network.PrefixLength < (network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 8 : 16))
            {
                // Wider than a /8 (IPv4) or /16 (IPv6): a large part of the internet could relay.
                t.Error("networks", $"\"{text}\" would let a large part of the internet relay (an open relay); list the client networks instead");
            }
            else
            {
                networks.Add(network);
            }
        }

        var domains = new List<string>();
        foreach (var d in t.StringArray("domains") ?? [])
        {
            // Stored as lower-case A-labels: an IDN may be written in either form.
            var domain = Tern.Smtp.Protocol.Idna.ToAscii(System.Text.Encoding.UTF8.GetBytes(d.TrimEnd('.'))) ?? string.Empty;
            if (!IsDomainName(domain))
            {
                t.Error("domains", $"\"{d}\" is not a domain name");
            }
            else
            {
                domains.Add(domain);
            }
        }

        t.Finish();
        return new RelayConfig(texts is null ? loopback : networks, domains);
    }

    private static List<ListenerConfig> BindListeners(ConfigTable? t, string baseDirectory, SmtpLimits limits)
    {
        if (t is null)
        {
            return
            [
                new ListenerConfig("relay", ListenerKind.Relay, new IPEndPoint(IPAddress.Loopback, DefaultRelayPort), null, null, limits),
                new ListenerConfig("submission", ListenerKind.Submission, new IPEndPoint(IPAddress.Loopback, DefaultSubmissionPort), null, null, limits) { RequireTls = ListenerRequireTls.Auto },
            ];
        }

        var result = new List<ListenerConfig>();
        var seen = new Dictionary<IPEndPoint, string>();
        foreach (var (name, l) in t.NamedTables())
        {
            var kindText = l.String("kind", "relay");
            var kind = kindText switch
            {
                "relay" => ListenerKind.Relay,
                "submission" => ListenerKind.Submission,
                "submissions" => ListenerKind.Submissions,
                _ => (ListenerKind?)null,
            };
            if (kind is null)
            {
                l.Error("kind", $"unknown listener kind \"{kindText}\"; expected relay, submission or submissions");
            }

            IPEndPoint? address = null;
            if (l.OptionalString("address") is not { } addressText)
            {
                l.Error("address", "missing: every listener needs an address such as \"127.0.0.1:25\"");
            }
            else if (!ConfigValues.TryParseEndpoint(addressText, out var ep))
            {
                l.Error("address", $"expected an IP address and port such as \"127.0.0.1:25\" or \"[::1]:25\", got \"{addressText}\"");
            }
            else if (ep.Port != 0 && seen.TryGetValue(ep, out var other))
            {
                l.Error("address", $"{ep} is already used by listener \"{other}\"");
            }
            else
            {
                seen[ep] = name;
                address = ep;
            }

            var cert = ResolveFile(l, "tls_cert", baseDirectory);
            var key = ResolveFile(l, "tls_key", baseDirectory);
            if ((cert is null) != (key is null))
            {
                // The certificate and its key go together; report on the one that is set.
                l.Error(cert is null ? "tls_key" : "tls_cert", $"set {(cert is null ? "tls_cert" : "tls_key")} too: a certificate and its key go together");
            }

            var requireTls = BindRequireTls(l, kind);
            var listenerLimits = BindLimits(l, limits);
            l.Finish();
            if (kind is { } k && address is not null)
            {
                result.Add(new ListenerConfig(name, k, address, cert, key, listenerLimits) { RequireTls = requireTls });
            }
        }

        t.Finish();
        return result;
    }

    /// <summary>
    /// <c>requiretls</c> of a listener: "auto" (the default on submission listeners) or "off". Relay
    /// listeners take no choice: their clients ask for REQUIRETLS themselves (RFC 8689 section 4.1).
    /// </summary>
    private static ListenerRequireTls BindRequireTls(ConfigTable l, ListenerKind? kind)
    {
        var submission = kind is ListenerKind.Submission or ListenerKind.Submissions;
        if (l.OptionalString("requiretls") is not { } text)
        {
            return submission ? ListenerRequireTls.Auto : ListenerRequireTls.Off;
        }

        if (kind == ListenerKind.Relay)
        {
            l.Error("requiretls", "only submission and submissions listeners choose REQUIRETLS for their clients; on a relay listener the client asks for it (MAIL FROM ... REQUIRETLS)");
            return ListenerRequireTls.Off;
        }

        switch (text)
        {
            case "auto":
                return ListenerRequireTls.Auto;
            case "off":
                return ListenerRequireTls.Off;
            default:
                l.Error("requiretls", $"expected \"auto\" or \"off\", got \"{text}\"");
                return submission ? ListenerRequireTls.Auto : ListenerRequireTls.Off;
        }
    }

    private static AuthConfig BindAuth(ConfigTable? t)
    {
        var d = AuthConfig.Default;
        if (t is null)
        {
            return d;
        }

        var mechanisms = new List<string>();
        foreach (var name in t.StringArray("mechanisms") ?? d.Mechanisms)
        {
            if (Tern.Sasl.SaslMechanisms.Canonical(name) is { } canonical)
            {
                mechanisms.Add(canonical);
            }
            else
            {
                t.Error("mechanisms", $"unknown mechanism \"{name}\"; known: {string.Join(", ", Tern.Sasl.SaslMechanisms.All)}");
            }
        }

        var result = new AuthConfig(
            mechanisms,
            t.Bool("allow_without_tls", d.AllowWithoutTls),
            (int)t.Integer("max_failures_per_ip", d.MaxFailuresPerIp, 1, 1_000_000),
            t.Duration("failure_window", d.FailureWindow, TimeSpan.FromSeconds(1), TimeSpan.FromDays(7)),
            t.Duration("failure_delay", d.FailureDelay, TimeSpan.Zero, TimeSpan.FromSeconds(30)),
            (int)t.Integer("iterations", d.Iterations, Tern.Sasl.Credentials.AccountStore.MinIterations, Tern.Sasl.Credentials.AccountStore.MaxIterations),
            t.Bool("plus_on_tls13", d.PlusOnTls13));
        t.Finish();
        return result;
    }

    /// <summary>SMTP limits: in <c>[smtp]</c> for every listener, and per listener as overrides.</summary>
    private static SmtpLimits BindLimits(ConfigTable t, SmtpLimits inherited) => inherited with
    {
        MaxMessageSize = t.Size("max_message_size", inherited.MaxMessageSize, 1024, 2L << 30),

        // RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted.
        MaxRecipients = (int)t.Integer("max_recipients", inherited.MaxRecipients, 100, 100_000),
        MaxConnections = (int)t.Integer("max_connections", inherited.MaxConnections, 1, 1_000_000),
        MaxConnectionsPerIp = (int)t.Integer("max_connections_per_ip", inherited.MaxConnectionsPerIp, 1, 1_000_000),
        MaxErrors = (int)t.Integer("max_errors", inherited.MaxErrors, 1, 1000),
        MaxJunkCommands = (int)t.Integer("max_junk_commands", inherited.MaxJunkCommands, 1, 1_000_000),

        // RFC 5321 4.5.3.1.4/4.5.3.1.6: 512 and 1000 octets are the minimums.
        MaxCommandLine = (int)t.Integer("max_command_line", inherited.MaxCommandLine, 512, 65536),
        MaxDataLine = (int)t.Integer("max_data_line", inherited.MaxDataLine, 1000, 1 << 20),
        CommandTimeout = t.Duration("command_timeout", inherited.CommandTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
        DataTimeout = t.Duration("data_timeout", inherited.DataTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
        MinDataRate = (int)t.Integer("min_data_rate", inherited.MinDataRate, 1, 1 << 30),
        TlsHandshakeTimeout = t.Duration("tls_handshake_timeout", inherited.TlsHandshakeTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10)),
    };

    private static string? ResolveFile(ConfigTable t, string key, string baseDirectory)
    {
        if (t.OptionalString(key) is not { } path)
        {
            return null;
        }

        var full = Path.GetFullPath(path, baseDirectory);
        if (!File.Exists(full))
        {
            t.Error(key, $"file \"{full}\" does not exist");
        }

        return full;
    }

    private static string DefaultHostname()
    {
        var name = Environment.MachineName;
        return IsDomainName(name) ? name.ToLowerInvariant() : "localhost";
    }

    /// <summary>RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.</summary>
    internal static bool IsDomainName(string name)
    {
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (var ch in label)
            {
                if (!char.IsAsciiLetterOrDigit(ch) && ch != '-')
                {
                    return false;
                }
            }
        }

        return true;
    }
}
