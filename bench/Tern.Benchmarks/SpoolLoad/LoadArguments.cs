using System.Globalization;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// The options of a <c>spool-load</c> mode: <c>--name value</c> pairs and bare <c>--flag</c>s.
/// Counts accept a k/M suffix and digit separators (<c>1M</c>, <c>500k</c>, <c>1_000_000</c>).
/// </summary>
internal sealed class LoadArguments
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    private LoadArguments(IReadOnlyList<string> raw) => Raw = raw;

    /// <summary>The arguments as given (passed on unchanged when a mode re-executes itself).</summary>
    public IReadOnlyList<string> Raw { get; }

    public static LoadArguments Parse(IReadOnlyList<string> args)
    {
        var result = new LoadArguments(args);
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal) || name.Length == 2)
            {
                throw new ArgumentException($"unexpected argument '{name}' (options are --name value)");
            }

            var hasValue = i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal);
            result._values[name[2..]] = hasValue ? args[++i] : null;
        }

        return result;
    }

    public bool Flag(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.TryGetValue(name, out var v) ? v ?? throw new ArgumentException($"--{name} needs a value") : null;

    public long Long(string name, long fallback) => String(name) is { } text ? ParseCount(name, text) : fallback;

    public int Int(string name, int fallback) => checked((int)Long(name, fallback));

    public double Double(string name, double fallback) =>
        String(name) is { } text
            ? double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new ArgumentException($"--{name}: '{text}' is not a number")
            : fallback;

    /// <summary>A comma-separated list of counts (<c>--writers 1,16,128</c>).</summary>
    public int[] Ints(string name, int[] fallback) =>
        String(name) is { } text
            ? [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t => checked((int)ParseCount(name, t)))]
            : fallback;

    private static long ParseCount(string name, string text)
    {
        var t = text.Replace("_", string.Empty, StringComparison.Ordinal).Replace(",", string.Empty, StringComparison.Ordinal);
        long multiplier = 1;
        if (t.EndsWith('k') || t.EndsWith('K'))
        {
            multiplier = 1_000;
            t = t[..^1];
        }
        else if (t.EndsWith('M'))
        {
            multiplier = 1_000_000;
            t = t[..^1];
        }

        return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0
            ? checked((long)Math.Round(v * multiplier))
            : throw new ArgumentException($"--{name}: '{text}' is not a count");
    }
}
