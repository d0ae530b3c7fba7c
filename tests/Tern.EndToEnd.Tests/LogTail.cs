namespace Tern.EndToEnd.Tests;

/// <summary>The end of a long log for a failure message (a soak's log can be megabytes).</summary>
internal static class LogTail
{
    /// <summary>The last 4,000 characters of <paramref name="log"/> (all of it when shorter).</summary>
    public static string Of(string log) => log[^Math.Min(4000, log.Length)..];
}
