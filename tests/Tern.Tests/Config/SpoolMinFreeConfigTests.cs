using Tern.Config;
using Tern.Hosting;

namespace Tern.Tests.Config;

/// <summary><c>[spool] min_free</c>: the free-space reserve below which new messages get 452 4.3.1.</summary>
public sealed class SpoolMinFreeConfigTests
{
    private static TernConfig Parse(string toml) => ConfigLoader.Parse(toml, "tern.toml", "/");

    [Fact]
    public void By_default_the_reserve_is_twice_the_largest_message_and_at_least_100_MiB()
    {
        var defaults = Parse("");
        Assert.Equal(-1, defaults.Spool.MinFree);

        // The default limit is 50 MiB: twice that is the floor exactly.
        Assert.Equal(100L << 20, TernHost.MinFree(defaults));
        Assert.Equal(100L << 20, TernHost.MinFree(Parse("[smtp]\nmax_message_size = \"10MiB\"\n[injection]\nmax_message_size = \"10MiB\"\n")));
        Assert.Equal(400L << 20, TernHost.MinFree(Parse("[smtp]\nmax_message_size = \"200MiB\"\n")));

        // The injection API's own limit counts too, unless the API is off.
        Assert.Equal(600L << 20, TernHost.MinFree(Parse("[injection]\nmax_message_size = \"300MiB\"\n")));
        Assert.Equal(100L << 20, TernHost.MinFree(Parse("[injection]\nenabled = false\nmax_message_size = \"300MiB\"\n")));
    }

    [Fact]
    public void An_explicit_reserve_is_taken_as_given_and_zero_turns_it_off()
    {
        Assert.Equal(2L << 30, TernHost.MinFree(Parse("[spool]\nmin_free = \"2GiB\"\n")));
        Assert.Equal(16L << 20, TernHost.MinFree(Parse("[spool]\nmin_free = \"16MiB\"\n")));
        Assert.Equal(0, TernHost.MinFree(Parse("[spool]\nmin_free = 0\n")));
        Assert.Equal(0, TernHost.MinFree(Parse("[spool]\nmin_free = \"0\"\n")));
    }

    [Theory]
    [InlineData("\"lots\"", "expected a size")]
    [InlineData("-5", "expected a size from 0")]
    [InlineData("true", "expected a size")]
    public void A_bad_value_is_named_by_file_line_and_key(string value, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Parse($"[spool]\ncommit_batch = 8\nmin_free = {value}\n"));
        var error = Assert.Single(e.Errors);
        Assert.Equal("tern.toml", error.File);
        Assert.Equal(3, error.Line);
        Assert.Equal("spool.min_free", error.Key);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
