using System.Globalization;
using System.Text;

namespace Tern.Load.Report;

/// <summary>The end-of-run summary as a plain-text table on stdout (labels left, values right of them).</summary>
internal static class SummaryTable
{
    /// <summary>The narrowest label column; wider when a setting's name needs it (plus two spaces).</summary>
    private const int MinLabelWidth = 14;

    public static string Render(RunSummary s)
    {
        var inv = CultureInfo.InvariantCulture;
        var width = Math.Max(MinLabelWidth, s.Options.Parameters.Select(p => p.Key.Length + 2).DefaultIfEmpty(0).Max());
        var b = new StringBuilder();
        b.Append(inv, $"tern-load {s.Options.Mode}: {s.Options.Target}").AppendLine();
        b.AppendLine(" settings");
        foreach (var (name, value) in s.Options.Parameters)
        {
            Row(b, width, name, value);
        }

        b.AppendLine(" results");
        Row(b, width, "duration", s.Duration.TotalSeconds.ToString("0.000", inv) + " s");
        Row(b, width, "messages", s.Messages.ToString(inv));
        Row(b, width, "ok", s.Ok.ToString(inv));
        var failed = s.Failed.ToString(inv);
        if (s.FailuresByKind.Count != 0)
        {
            failed += "  (" + string.Join(", ", s.FailuresByKind.Select(k => $"{RunSummary.KindName(k.Kind)} {k.Count.ToString(inv)}")) + ")";
        }

        Row(b, width, "failed", failed);
        if (s.FailuresByCode.Count != 0)
        {
            Row(b, width, "by code", string.Join(", ", s.FailuresByCode.Select(c => $"{c.Code.ToString(inv)}: {c.Count.ToString(inv)}")));
        }

        Row(b, width, "connections", s.Connections.ToString(inv));
        Row(b, width, "throughput", string.Create(inv, $"{s.MessagesPerSecond:0.0} msg/s  {s.MiBPerSecond:0.000} MiB/s"));

        if (s.Ok == 0)
        {
            // No latency was recorded: zeros would read as "instant".
            Row(b, width, "latency ms", "- (no message succeeded)");
            return b.ToString();
        }

        var l = s.Latency;
        var heads = new List<string> { "min" };
        var values = new List<long> { l.MinMicros };
        foreach (var (p, v) in l.Percentiles)
        {
            heads.Add("p" + p.ToString("0.###", inv));
            values.Add(v);
        }

        heads.Add("max");
        values.Add(l.MaxMicros);
        b.Append("  ").Append("latency ms".PadRight(width));
        foreach (var h in heads)
        {
            b.Append(h.PadLeft(10));
        }

        b.AppendLine();
        b.Append("  ").Append(string.Empty.PadRight(width));
        foreach (var v in values)
        {
            b.Append((v / 1000.0).ToString("0.000", inv).PadLeft(10));
        }

        b.AppendLine();
        return b.ToString();
    }

    private static void Row(StringBuilder b, int width, string label, string value) =>
        b.Append("  ").Append(label.PadRight(width)).Append(value).AppendLine();
}
