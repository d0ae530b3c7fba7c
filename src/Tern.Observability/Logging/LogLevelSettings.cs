namespace Tern.Observability.Logging;

/// <summary>
/// The global log level and per-component overrides. Mutable so that a configuration reload can
/// change levels of loggers that already exist; loggers read it on every check (a volatile read and,
/// for components with an override, a dictionary hit cached per logger via the version number).
/// </summary>
public sealed class LogLevelSettings
{
    private volatile Snapshot _snapshot;

    public LogLevelSettings(TernLogLevel global = TernLogLevel.Info, IReadOnlyDictionary<string, TernLogLevel>? components = null)
    {
        _snapshot = new Snapshot(global, Copy(components), 0);
    }

    public TernLogLevel Global => _snapshot.Global;

    internal int Version => _snapshot.Version;

    /// <summary>A component's level and the version it belongs to, read from one snapshot.</summary>
    internal (int Version, TernLogLevel Level) Resolve(string component)
    {
        var s = _snapshot;
        return (s.Version, s.Components.TryGetValue(component, out var level) ? level : s.Global);
    }

    /// <summary>Replaces every level at once (e.g. on SIGHUP).</summary>
    public void Set(TernLogLevel global, IReadOnlyDictionary<string, TernLogLevel>? components)
    {
        var old = _snapshot;
        _snapshot = new Snapshot(global, Copy(components), old.Version + 1);
    }

    private static Dictionary<string, TernLogLevel> Copy(IReadOnlyDictionary<string, TernLogLevel>? components)
    {
        var copy = new Dictionary<string, TernLogLevel>(StringComparer.Ordinal);
        if (components is not null)
        {
            foreach (var (k, v) in components)
            {
                copy[k] = v;
            }
        }

        return copy;
    }

    private sealed record Snapshot(TernLogLevel Global, Dictionary<string, TernLogLevel> Components, int Version);
}
