using System.Globalization;

namespace Tern.EndToEnd.Tests;

/// <summary>A process's memory as Linux reports it in <c>/proc/PID/status</c>, in bytes.</summary>
internal static class ProcStatus
{
    /// <summary>The resident set now (VmRSS).</summary>
    public static long Rss(int pid) => Field(pid, "VmRSS:");

    /// <summary>The peak resident set since the process started (VmHWM, the "high water mark").</summary>
    public static long PeakRss(int pid) => Field(pid, "VmHWM:");

    /// <summary>A field given in kB ("VmHWM:\t   81234 kB"), in bytes.</summary>
    private static long Field(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}
