using Tern.Config;

namespace Tern.Tests.Config;

/// <summary>The <c>requiretls</c> key of listeners: "auto" (default on submission listeners) or "off"; errors name file, line and key.</summary>
public sealed class ListenerRequireTlsConfigTests
{
    private const string File = "tern.toml";

    private static TernConfig Parse(string toml) => ConfigLoader.Parse(toml, File, "/etc/tern");

    [Fact]
    public void Submission_listeners_choose_automatically_unless_set_off_and_relay_listeners_never()
    {
        var c = Parse("""
            [listeners.mx]
            address = "127.0.0.1:25"

            [listeners.sub]
            kind = "submission"
            address = "127.0.0.1:587"

            [listeners.subs]
            kind = "submissions"
            address = "127.0.0.1:465"
            requiretls = "off"

            [listeners.sub2]
            kind = "submission"
            address = "127.0.0.1:588"
            requiretls = "auto"
            """);
        Assert.Equal(
            [("mx", ListenerRequireTls.Off), ("sub", ListenerRequireTls.Auto), ("subs", ListenerRequireTls.Off), ("sub2", ListenerRequireTls.Auto)],
            c.Listeners.Select(l => (l.Name, l.RequireTls)));

        // The embedded default (and so the example file) submits with "auto".
        Assert.Equal(
            [("relay", ListenerRequireTls.Off), ("submission", ListenerRequireTls.Auto)],
            ConfigLoader.Default().Listeners.Select(l => (l.Name, l.RequireTls)));
    }

    [Theory]
    [InlineData("requiretls = \"yes\"", "expected \"auto\" or \"off\", got \"yes\"")]
    [InlineData("requiretls = \"Auto\"", "expected \"auto\" or \"off\", got \"Auto\"")]
    [InlineData("requiretls = true", "a string")]
    public void A_bad_value_names_the_file_line_and_key(string line, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Parse($"""
            [listeners.sub]
            kind = "submission"
            address = "127.0.0.1:587"
            {line}
            """));
        var error = Assert.Single(e.Errors);
        Assert.Equal((File, 4, "listeners.sub.requiretls"), (error.File, error.Line, error.Key));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("tern.toml:4: listeners.sub.requiretls: ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_relay_listener_refuses_the_key_with_its_line()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("""
            [listeners.mx]
            kind = "relay"

            requiretls = "auto"
            address = "127.0.0.1:25"
            """));
        var error = Assert.Single(e.Errors);
        Assert.Equal((4, "listeners.mx.requiretls"), (error.Line, error.Key));
        Assert.Contains("only submission and submissions listeners", error.Message, StringComparison.Ordinal);
    }
}
