using Tern.Config;
using Tern.Hosting;
using Tern.MtaSts;
using Tern.Tests.Cli;

namespace Tern.Tests.Config;

/// <summary><c>[delivery] mta_sts</c> and <c>mta_sts_port</c>: bound, defaulted, checked, and composed into the deliverer's MTA-STS options.</summary>
public sealed class MtaStsConfigTests
{
    private const string File = "tern.toml";

    private static TernConfig Parse(string toml) => ConfigLoader.Parse(toml, File, "/etc/tern");

    [Fact]
    public void Mta_sts_is_on_by_default_with_the_policy_host_on_port_443()
    {
        foreach (var c in new[] { ConfigLoader.Default(), Parse("[delivery]\nenabled = true\n"), ConfigLoader.Parse(ConfigLoader.Example(), "example.toml", "/etc/tern") })
        {
            Assert.True(c.Delivery.MtaSts);
            Assert.Equal(443, c.Delivery.MtaStsPort);
        }

        // The embedded example documents both keys.
        Assert.Contains("\nmta_sts = true", ConfigLoader.Example(), StringComparison.Ordinal);
        Assert.Contains("\n# mta_sts_port = 443", ConfigLoader.Example(), StringComparison.Ordinal);
    }

    [Fact]
    public void Mta_sts_can_be_turned_off_and_its_port_set()
    {
        var off = Parse("[delivery]\nmta_sts = false\n");
        Assert.False(off.Delivery.MtaSts);
        Assert.Equal(443, off.Delivery.MtaStsPort);

        var port = Parse("[delivery]\nmta_sts_port = 8443\n");
        Assert.True(port.Delivery.MtaSts);
        Assert.Equal(8443, port.Delivery.MtaStsPort);
    }

    [Theory]
    [InlineData("mta_sts = \"yes\"", "delivery.mta_sts", "expected true or false, got")]
    [InlineData("mta_sts = 1", "delivery.mta_sts", "expected true or false, got")]
    [InlineData("mta_sts_port = 0", "delivery.mta_sts_port", "expected an integer from 1 to 65535, got 0")]
    [InlineData("mta_sts_port = 65536", "delivery.mta_sts_port", "expected an integer from 1 to 65535, got 65536")]
    [InlineData("mta_sts_port = \"443\"", "delivery.mta_sts_port", "expected an integer from 1 to 65535, got")]
    [InlineData("mta_sts_ports = 443", "delivery.mta_sts_ports", "unknown key")]
    public void A_bad_value_is_an_error_naming_file_line_and_key(string line, string key, string problem)
    {
        var errors = Assert.Throws<ConfigException>(() => Parse($"hostname = \"mx.example.org\"\n\n[delivery]\nenabled = true\n{line}\n")).Errors;
        var e = Assert.Single(errors);
        Assert.Equal((File, 5, key), (e.File, e.Line, e.Key));
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_check_reports_a_bad_mta_sts_value_with_file_line_and_key()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tern-{Guid.NewGuid():N}.toml");
        await System.IO.File.WriteAllTextAsync(path, "[delivery]\nmta_sts = \"on\"\nmta_sts_port = 70000\n");
        try
        {
            var (code, output, err) = await InProcessTern.RunAsync("config", "check", "-c", path);
            Assert.Equal(Tern.Cli.ExitCodes.Config, code);
            Assert.Equal(string.Empty, output);
            Assert.Contains($"{path}:2: delivery.mta_sts: expected true or false, got the string \"on\"", err, StringComparison.Ordinal);
            Assert.Contains($"{path}:3: delivery.mta_sts_port: expected an integer from 1 to 65535, got 70000", err, StringComparison.Ordinal);
            Assert.Contains("2 errors in the configuration", err, StringComparison.Ordinal);
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    [Fact]
    public void The_host_gives_the_deliverer_the_data_directory_the_ca_bundle_and_the_port()
    {
        var c = Parse("""
            data_dir = "/var/lib/tern"
            [delivery]
            ca_bundle = "roots.pem"
            mta_sts_port = 8443
            """);

        var sts = TernHost.BuildDelivererOptions(c, null).MtaSts;

        Assert.NotNull(sts);
        Assert.Equal(new MtaStsOptions { CacheDirectory = "/var/lib/tern", CaBundlePath = "/etc/tern/roots.pem", Port = 8443 }, sts);
        Assert.Equal(TimeSpan.FromMinutes(1), sts.FetchTimeout);
    }

    [Fact]
    public void The_host_gives_the_deliverer_no_mta_sts_when_it_is_off()
    {
        Assert.Null(TernHost.BuildDelivererOptions(Parse("[delivery]\nmta_sts = false\n"), null).MtaSts);

        // On by default: the system roots (no bundle) and port 443.
        var sts = TernHost.BuildDelivererOptions(Parse("data_dir = \"/srv/tern\"\n"), null).MtaSts;
        Assert.Equal(new MtaStsOptions { CacheDirectory = "/srv/tern" }, sts);
        Assert.Equal(443, sts!.Port);
    }
}
