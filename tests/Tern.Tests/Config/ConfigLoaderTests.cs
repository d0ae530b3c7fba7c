using System.Net;
using Tern.Config;
using Tern.Observability.Logging;
using Tern.Smtp.Server;

namespace Tern.Tests.Config;

public sealed class ConfigLoaderTests
{
    private const string File = "tern.toml";

    private static TernConfig Parse(string toml) => ConfigLoader.Parse(toml, File, "/etc/tern");

    private static ConfigError SingleError(string toml)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(toml));
        return Assert.Single(e.Errors);
    }

    [Fact]
    public void Embedded_default_listens_on_loopback_only()
    {
        var c = ConfigLoader.Default();
        Assert.True(c.IsEmbeddedDefault);
        Assert.Collection(
            c.Listeners,
            l =>
            {
                Assert.Equal(("relay", ListenerKind.Relay), (l.Name, l.Kind));
                Assert.Equal(new IPEndPoint(IPAddress.Loopback, 2525), l.Address);
            },
            l =>
            {
                Assert.Equal(("submission", ListenerKind.Submission), (l.Name, l.Kind));
                Assert.Equal(new IPEndPoint(IPAddress.Loopback, 5587), l.Address);
            });
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 9464), c.Http.Listen);
        Assert.Equal(Path.GetFullPath("./data"), c.DataDirectory);
        Assert.Equal(TernLogLevel.Info, c.Log.Level);
        Assert.All(c.Relay.Networks, n => Assert.True(IPAddress.IsLoopback(n.BaseAddress)));
        Assert.Equal(TimeSpan.FromSeconds(10), c.ShutdownGrace);
    }

    [Fact]
    public void Example_configuration_parses_to_the_embedded_default()
    {
        var example = ConfigLoader.Parse(ConfigLoader.Example(), "example.toml", Directory.GetCurrentDirectory());
        var defaults = ConfigLoader.Default();
        Assert.Equal(defaults.Hostname, example.Hostname);
        Assert.Equal(defaults.DataDirectory, example.DataDirectory);
        Assert.Equal(defaults.Log.Level, example.Log.Level);
        Assert.Empty(example.Log.Components);
        Assert.Equal(defaults.Http, example.Http);
        Assert.Equal(defaults.Relay.Networks, example.Relay.Networks);
        Assert.Equal(defaults.Listeners, example.Listeners);
        Assert.Equal(defaults.ShutdownGrace, example.ShutdownGrace);
        Assert.Equal(defaults.Auth, example.Auth);
        Assert.Equal(defaults.Spool, example.Spool);
    }

    [Fact]
    public void Spool_section_is_bound_and_checked()
    {
        var c = ConfigLoader.Parse("[spool]\ncommit_delay = \"2ms\"\ncommit_batch = 64\nretention = \"30d\"\nindex_memory = \"128MiB\"\n", "t.toml", "/");
        Assert.Equal(TimeSpan.FromMilliseconds(2), c.Spool.CommitDelay);
        Assert.Equal(64, c.Spool.CommitBatch);
        Assert.Equal(TimeSpan.FromDays(30), c.Spool.Retention);
        Assert.Equal(128L << 20, c.Spool.IndexMemory);
        Assert.Equal(8L << 20, c.Spool.IndexTable);
        var table = ConfigLoader.Parse("[spool]\nindex_table = \"32MiB\"\n", "t.toml", "/");
        Assert.Equal(32L << 20, table.Spool.IndexTable);
        Assert.Equal(1L << 19, Tern.Hosting.TernHost.SpoolOptionsFrom(table, "/tmp/unused").IndexBuckets); // 64 bytes a bucket

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("[spool]\nindex_memory = \"100MiB\"\ncommit_delay = \"1s\"\nbogus = 1\nindex_table = \"12MiB\"\n", "t.toml", "/"));
        Assert.Contains(e.Errors, x => x.Line == 5 && x.Key == "spool.index_table" && x.Message.Contains("power of two", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Line == 2 && x.Key == "spool.index_memory" && x.Message.Contains("power of two", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x.Line == 3 && x.Key == "spool.commit_delay");
        Assert.Contains(e.Errors, x => x.Line == 4 && x.Key == "spool.bogus");
    }

    [Fact]
    public void Auth_settings_are_bound()
    {
        var c = Parse("[auth]\nmechanisms = [\"scram-sha-256\", \"PLAIN\", \"CRAM-MD5\"]\nallow_without_tls = true\nmax_failures_per_ip = 3\nfailure_window = \"1h\"\nfailure_delay = \"0s\"\niterations = 10000\nplus_on_tls13 = false\n");
        Assert.Equal(new AuthConfig(["SCRAM-SHA-256", "PLAIN", "CRAM-MD5"], true, 3, TimeSpan.FromHours(1), TimeSpan.Zero, 10000, false), c.Auth);
        Assert.Equal(AuthConfig.Default, ConfigLoader.Default().Auth);
    }

    [Fact]
    public void Full_file_is_bound()
    {
        var c = Parse("""
            hostname = "mx1.example.org"
            data_dir = "spool"

            [log]
            level = "debug"
            [log.components]
            smtp = "traceauth"

            [http]
            listen = "[::1]:9100"

            [relay]
            networks = ["192.0.2.0/24", "2001:db8::1"]

            [shutdown]
            grace = "1500ms"

            [listeners.mx]
            kind = "relay"
            address = "0.0.0.0:25"

            [listeners.implicit]
            kind = "submissions"
            address = "[::]:465"
            """);
        Assert.Equal("mx1.example.org", c.Hostname);
        Assert.Equal("/etc/tern/spool", c.DataDirectory);
        Assert.Equal(TernLogLevel.Debug, c.Log.Level);
        Assert.Equal(TernLogLevel.TraceAuth, c.Log.Components["smtp"]);
        Assert.Equal(IPEndPoint.Parse("[::1]:9100"), c.Http.Listen);
        Assert.Equal([IPNetwork.Parse("192.0.2.0/24"), IPNetwork.Parse("2001:db8::1/128")], c.Relay.Networks);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), c.ShutdownGrace);
        Assert.Equal(2, c.Listeners.Count);
        Assert.Equal(new ListenerConfig("implicit", ListenerKind.Submissions, IPEndPoint.Parse("[::]:465"), null, null, new SmtpLimits()) { RequireTls = ListenerRequireTls.Auto }, c.Listeners[1]);
    }

    [Fact]
    public void Smtp_limits_apply_to_every_listener_and_listeners_override_them()
    {
        var c = Parse("""
            [smtp]
            max_message_size = "10MiB"
            max_recipients = 200
            command_timeout = "2m"
            max_junk_commands = 20
            min_data_rate = 2000

            [relay]
            domains = ["Ours.Example.", "other.example"]

            [listeners.a]
            address = "127.0.0.1:25"

            [listeners.b]
            address = "127.0.0.1:26"
            max_recipients = 500
            max_connections_per_ip = 5
            """);
        Assert.Equal(10L << 20, c.Listeners[0].Limits.MaxMessageSize);
        Assert.Equal(200, c.Listeners[0].Limits.MaxRecipients);
        Assert.Equal(TimeSpan.FromMinutes(2), c.Listeners[0].Limits.CommandTimeout);
        Assert.Equal(20, c.Listeners[1].Limits.MaxJunkCommands);
        Assert.Equal(2000, c.Listeners[1].Limits.MinDataRate);
        Assert.Equal(new SmtpLimits().MaxConnectionsPerIp, c.Listeners[0].Limits.MaxConnectionsPerIp);
        Assert.Equal(10L << 20, c.Listeners[1].Limits.MaxMessageSize);
        Assert.Equal(500, c.Listeners[1].Limits.MaxRecipients);
        Assert.Equal(5, c.Listeners[1].Limits.MaxConnectionsPerIp);
        Assert.Equal(["ours.example", "other.example"], c.Relay.Domains);
    }

    [Fact]
    public void Unknown_key_names_line_and_dotted_key()
    {
        var e = SingleError("""
            [log]
            level = "info"

            colour = "blue"
            """);
        Assert.Equal(new ConfigError(File, 4, "log.colour", "unknown key"), e);
        Assert.Equal("tern.toml:4: log.colour: unknown key", e.ToString());
    }

    [Fact]
    public void Unknown_top_level_section_is_reported()
    {
        var e = SingleError("\n\n[smtpd]\nport = 25\n");
        Assert.Equal((3, "smtpd"), (e.Line, e.Key));
    }

    [Fact]
    public void Wrong_type_is_reported_with_what_was_found()
    {
        var e = SingleError("hostname = 42\n");
        Assert.Equal((1, "hostname"), (e.Line, e.Key));
        Assert.Contains("expected a string, got the integer 42", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_error_is_reported_at_once_in_line_order()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            [listeners.a]
            kind = "mx"
            address = "localhost:25"
            [log]
            level = "verbose"
            """));
        Assert.Equal([(2, "listeners.a.kind"), (3, "listeners.a.address"), (5, "log.level")], e.Errors.Select(x => (x.Line, x.Key)));
    }

    [Theory]
    [InlineData("[relay]\nnetworks = [\"0.0.0.0/0\"]\n", "relay.networks", "open relay")]
    [InlineData("[relay]\nnetworks = [\"::/0\"]\n", "relay.networks", "open relay")]
    [InlineData("[relay]\nnetworks = [\"0.0.0.0/1\"]\n", "relay.networks", "open relay")]
    [InlineData("[relay]\nnetworks = [\"8000::/1\"]\n", "relay.networks", "open relay")]
    [InlineData("[relay]\nnetworks = [\"10.0.0.0/33\"]\n", "relay.networks", "is not an address or network")]
    [InlineData("[relay]\nnetworks = \"127.0.0.1\"\n", "relay.networks", "expected an array of strings")]
    [InlineData("[log]\nlevel = \"loud\"\n", "log.level", "unknown level \"loud\"")]
    [InlineData("[log.components]\nsmtpd = \"debug\"\n", "log.components.smtpd", "unknown component")]
    [InlineData("[log.components]\nsmtp = \"chatty\"\n", "log.components.smtp", "unknown level")]
    [InlineData("[http]\nlisten = \"127.0.0.1\"\n", "http.listen", "expected an address and port")]
    [InlineData("[shutdown]\ngrace = \"forever\"\n", "shutdown.grace", "expected a duration")]
    [InlineData("[shutdown]\ngrace = \"2h\"\n", "shutdown.grace", "from 0ms to 10m")]
    [InlineData("hostname = \"bad_host\"\n", "hostname", "not a valid host name")]
    [InlineData("data_dir = \"\"\n", "data_dir", "must not be empty")]
    [InlineData("[listeners.a]\nkind = \"relay\"\n", "listeners.a.address", "missing")]
    [InlineData("[listeners.a]\naddress = \"::1:25\"\n", "listeners.a.address", "expected an IP address and port")]
    [InlineData("[listeners.a]\naddress = \"127.0.0.1:70000\"\n", "listeners.a.address", "expected an IP address and port")]
    [InlineData("[listeners.a]\naddress = \"127.0.0.1:25\"\ntls_key = \"/dev/null\"\n", "listeners.a.tls_key", "set tls_cert too")]
    [InlineData("[listeners.a]\naddress = \"127.0.0.1:25\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/dev/null\"\n", "listeners.a.tls_cert", "does not exist")]
    [InlineData("listeners = 5\n", "listeners", "expected a table")]
    [InlineData("[smtp]\nmax_recipients = 10\n", "smtp.max_recipients", "from 100 to 100000")]
    [InlineData("[smtp]\nmax_message_size = \"lots\"\n", "smtp.max_message_size", "expected a size")]
    [InlineData("[smtp]\ncommand_timeout = \"0s\"\n", "smtp.command_timeout", "from 1s to 1h")]
    [InlineData("[smtp]\nmax_data_line = 80\n", "smtp.max_data_line", "from 1000")]
    [InlineData("[relay]\ndomains = [\"bad domain\"]\n", "relay.domains", "is not a domain name")]
    [InlineData("[auth]\nmechanisms = [\"GSSAPI\"]\n", "auth.mechanisms", "unknown mechanism \"GSSAPI\"")]
    [InlineData("[auth]\niterations = 100\n", "auth.iterations", "from 4096 to 1000000")]
    [InlineData("[listeners.a]\naddress = \"127.0.0.1:25\"\nmax_errors = 0\n", "listeners.a.max_errors", "from 1 to 1000")]
    [InlineData("[smtp]\nmax_junk_commands = 0\n", "smtp.max_junk_commands", "from 1 to 1000000")]
    [InlineData("[listeners.a]\naddress = \"127.0.0.1:25\"\nmin_data_rate = 0\n", "listeners.a.min_data_rate", "from 1 to")]
    [InlineData("[smtp]\nmin_data_rate = \"fast\"\n", "smtp.min_data_rate", "expected an integer")]
    public void Bad_values_name_the_key(string toml, string key, string message)
    {
        var e = SingleError(toml);
        Assert.Equal(key, e.Key);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.True(e.Line > 0, $"no line for {e}");
    }

    [Fact]
    public void Two_listeners_on_one_address_are_refused()
    {
        var e = SingleError("""
            [listeners.a]
            address = "127.0.0.1:25"
            [listeners.b]
            address = "127.0.0.1:25"
            """);
        Assert.Equal((4, "listeners.b.address"), (e.Line, e.Key));
        Assert.Contains("already used by listener \"a\"", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Syntax_error_gives_the_line()
    {
        var e = SingleError("hostname = \"a\"\ndata_dir = \n");
        Assert.Equal(2, e.Line);
        Assert.StartsWith("syntax error:", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("tern.toml:2: syntax error:", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_keys_are_a_syntax_error()
    {
        var e = SingleError("hostname = \"a\"\nhostname = \"b\"\n");
        Assert.Equal(2, e.Line);
    }

    [Fact]
    public void Missing_file_is_a_config_error_naming_the_file()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load("/nonexistent/tern.toml"));
        var error = Assert.Single(e.Errors);
        Assert.Equal("/nonexistent/tern.toml", error.File);
        Assert.Contains("cannot read", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Relative_paths_resolve_against_the_config_file_directory()
    {
        var dir = Directory.CreateTempSubdirectory("tern-config-");
        try
        {
            System.IO.File.WriteAllText(Path.Combine(dir.FullName, "cert.pem"), "x");
            System.IO.File.WriteAllText(Path.Combine(dir.FullName, "key.pem"), "x");
            var path = Path.Combine(dir.FullName, "tern.toml");
            System.IO.File.WriteAllText(path, "data_dir = \"spool\"\n[listeners.s]\nkind = \"submissions\"\naddress = \"127.0.0.1:465\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n");
            var c = ConfigLoader.Load(path);
            Assert.Equal(Path.Combine(dir.FullName, "spool"), c.DataDirectory);
            Assert.Equal(Path.Combine(dir.FullName, "cert.pem"), c.Listeners[0].TlsCertificate);
            Assert.Equal(Path.Combine(dir.FullName, "key.pem"), c.Listeners[0].TlsKey);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Theory]
    [InlineData("500ms", 0.5)]
    [InlineData("30s", 30)]
    [InlineData("1.5m", 90)]
    [InlineData("2h", 7200)]
    [InlineData("7d", 604800)]
    public void Durations(string text, double seconds)
    {
        Assert.True(ConfigValues.TryParseDuration(text, out var d));
        Assert.Equal(seconds, d.TotalSeconds, 6);
    }

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("10")]
    [InlineData("10 weeks")]
    [InlineData("-1s")]
    public void Bad_durations(string text) => Assert.False(ConfigValues.TryParseDuration(text, out _));

    [Theory]
    [InlineData("1024", 1024)]
    [InlineData("64KiB", 65536)]
    [InlineData("50MiB", 52428800)]
    [InlineData("1GiB", 1073741824)]
    [InlineData("10MB", 10000000)]
    public void Sizes(string text, long bytes)
    {
        Assert.True(ConfigValues.TryParseSize(text, out var n));
        Assert.Equal(bytes, n);
    }

    [Theory]
    [InlineData("mail.example.com", true)]
    [InlineData("localhost", true)]
    [InlineData("a-b.c", true)]
    [InlineData("-a.c", false)]
    [InlineData("a..c", false)]
    [InlineData("a_b.c", false)]
    [InlineData("", false)]
    public void Host_names(string name, bool valid) => Assert.Equal(valid, ConfigLoader.IsDomainName(name));
}
