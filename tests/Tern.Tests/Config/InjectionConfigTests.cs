using Tern.Config;
using Tern.Smtp.Server;

namespace Tern.Tests.Config;

public sealed class InjectionConfigTests
{
    private static TernConfig Parse(string toml) => ConfigLoader.Parse(toml, "tern.toml", "/etc/tern");

    [Fact]
    public void Injection_is_on_by_default_with_the_smtp_limits()
    {
        var d = ConfigLoader.Default().Injection;
        Assert.True(d.Enabled);
        Assert.Equal(new SmtpLimits().MaxMessageSize, d.MaxMessageSize);
        Assert.Equal(new SmtpLimits().MaxRecipients, d.MaxRecipients);
        Assert.Equal(new SmtpLimits().MaxDataLine, d.MaxLineLength);

        // The example configuration says the same.
        Assert.Equal(d, ConfigLoader.Parse(ConfigLoader.Example(), "example.toml", Directory.GetCurrentDirectory()).Injection);
    }

    [Fact]
    public void Limits_follow_the_smtp_table_unless_set_here()
    {
        var inherited = Parse("""
            [smtp]
            max_message_size = "10MiB"
            max_recipients = 500
            max_data_line = 2000
            """).Injection;
        Assert.Equal(10L << 20, inherited.MaxMessageSize);
        Assert.Equal(500, inherited.MaxRecipients);
        Assert.Equal(2000, inherited.MaxLineLength);

        var own = Parse("""
            [smtp]
            max_message_size = "10MiB"
            [injection]
            enabled = false
            max_message_size = "1MiB"
            max_recipients = 200
            """).Injection;
        Assert.Equal(new InjectionConfig { Enabled = false, MaxMessageSize = 1L << 20, MaxRecipients = 200 }, own);
    }

    [Fact]
    public void Errors_name_the_file_line_and_key()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            [injection]
            enabled = "yes"
            max_recipients = 50
            max_message_size = "huge"
            token = "abc"
            """));
        Assert.Contains(e.Errors, x => x is { File: "tern.toml", Line: 2, Key: "injection.enabled" });
        Assert.Contains(e.Errors, x => x is { Line: 3, Key: "injection.max_recipients" } && x.Message.Contains("100", StringComparison.Ordinal));
        Assert.Contains(e.Errors, x => x is { Line: 4, Key: "injection.max_message_size" });
        Assert.Contains(e.Errors, x => x is { Line: 5, Key: "injection.token" } && x.Message.Contains("unknown key", StringComparison.Ordinal));
        Assert.Equal(4, e.Errors.Count);
    }
}
