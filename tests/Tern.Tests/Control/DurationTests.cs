using Tern.Cli;

namespace Tern.Tests.Control;

public sealed class DurationTests
{
    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    [InlineData("1h30m", 5400)]
    [InlineData("1d12h", 129600)]
    [InlineData("1d2h3m4s", 93784)]
    [InlineData("0s", 0)]
    [InlineData("-30m", -1800)]
    [InlineData("+15m", 900)]
    [InlineData(" 2h ", 7200)]
    [InlineData("36500d", 36500L * 86400)]
    public void Parses(string text, long seconds)
    {
        Assert.True(Durations.TryParse(text, out var value, out var error), error);
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
        Assert.Empty(error);
    }

    [Theory]
    [InlineData("", "empty duration")]
    [InlineData("   ", "empty duration")]
    [InlineData("30", "has no unit")]
    [InlineData("1h30", "\"30\" has no unit")]
    [InlineData("5x", "unknown unit 'x'")]
    [InlineData("h", "expected a number")]
    [InlineData("1.5h", "unknown unit '.'")]
    [InlineData("30m1h", "largest first")]
    [InlineData("1h1h", "largest first")]
    [InlineData("1h 30m", "expected a number at \" 30m\"")]
    [InlineData("--5m", "expected a number")]
    [InlineData("36501d", "longer than 36500 days")]
    [InlineData("99999999999999999999s", "longer than 36500 days")]
    public void Refuses_with_a_reason(string text, string reason)
    {
        Assert.False(Durations.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(45, "45s")]
    [InlineData(90, "1m30s")]
    [InlineData(720, "12m")]
    [InlineData(11100, "3h5m")]
    [InlineData(187200, "2d4h")]
    [InlineData(-1800, "-30m")]
    [InlineData(86400 + 59, "1d")]
    public void Formats_compactly(long seconds, string text)
    {
        Assert.Equal(text, Durations.Format(TimeSpan.FromSeconds(seconds)));
    }

    [Theory]
    [InlineData("45s")]
    [InlineData("1h30m")]
    [InlineData("-2d4h")]
    public void Format_parses_back(string text)
    {
        Assert.True(Durations.TryParse(text, out var value, out _));
        Assert.Equal(text, Durations.Format(value));
    }
}
