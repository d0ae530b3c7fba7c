using System.Diagnostics;

namespace Tern.EndToEnd.Tests;

/// <summary>Prometheus's own checker (Debian package prometheus) over a scrape.</summary>
internal static class Promtool
{
    /// <summary>Fails the test with promtool's words unless it accepts <paramref name="exposition"/>.</summary>
    public static async Task AssertValidAsync(string exposition)
    {
        var check = Process.Start(new ProcessStartInfo("promtool", ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await check.StandardInput.WriteAsync(exposition);
        check.StandardInput.Close();
        var output = await check.StandardOutput.ReadToEndAsync() + await check.StandardError.ReadToEndAsync();
        await check.WaitForExitAsync();
        Assert.True(check.ExitCode == 0, output);
    }
}
