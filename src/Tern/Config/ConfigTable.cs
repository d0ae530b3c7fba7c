using System.Globalization;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Tern.Config;

/// <summary>
/// Typed, line-aware access to one TOML table of the configuration file. Every read marks the key as
/// known; <see cref="Finish"/> reports the keys nobody read as unknown. Errors are collected (not
/// thrown) so that one run of <c>tern config check</c> lists every problem with its file and line.
/// </summary>
internal sealed class ConfigTable
{
    private readonly TomlTable _table;
    private readonly TomlMetadataStore _metadata;
    private readonly List<ConfigError> _errors;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public ConfigTable(string file, string path, int line, TomlTable table, TomlMetadataStore metadata, List<ConfigError> errors)
    {
        File = file;
        Path = path;
        Line = line;
        _table = table;
        _metadata = metadata;
        _errors = errors;
    }

    public string File { get; }

    /// <summary>Dotted path of this table ("" for the document root).</summary>
    public string Path { get; }

    /// <summary>1-based line where this table is defined (0 when it is implicit).</summary>
    public int Line { get; }

    public bool Has(string key) => _table.ContainsKey(key);

    public string KeyPath(string key) => Path.Length == 0 ? key : Path + "." + key;

    /// <summary>1-based line of a key, or this table's line when the key is absent.</summary>
    public int LineOf(string key)
    {
        if (_metadata.TryGetProperties(_table, out var props) && props is not null &&
            props.TryGetProperty(key, out var meta) && meta?.Span is { } span)
        {
            return span.Start.Line + 1;
        }

        return Line;
    }

    public void Error(string key, string message) => _errors.Add(new ConfigError(File, LineOf(key), KeyPath(key), message));

    public string String(string key, string fallback) => Optional<string>(key, "a string") ?? fallback;

    public string? OptionalString(string key) => Optional<string>(key, "a string");

    public bool Bool(string key, bool fallback)
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return fallback;
        }

        if (value is bool b)
        {
            return b;
        }

        Error(key, $"expected true or false, got {Describe(value)}");
        return fallback;
    }

    public long Integer(string key, long fallback, long min, long max)
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return fallback;
        }

        if (value is not long n)
        {
            Error(key, $"expected an integer from {min} to {max}, got {Describe(value)}");
            return fallback;
        }

        if (n < min || n > max)
        {
            Error(key, $"expected an integer from {min} to {max}, got {n}");
            return fallback;
        }

        return n;
    }

    /// <summary>A number: an integer or a float (TOML 1.0 section "Float").</summary>
    public double Number(string key, double fallback, double min, double max)
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return fallback;
        }

        double? n = value switch
        {
            long l => l,
            double d => d,
            _ => null,
        };
        if (n is not { } number || double.IsNaN(number) || number < min || number > max)
        {
            Error(key, $"expected a number from {min.ToString(System.Globalization.CultureInfo.InvariantCulture)} to {max.ToString(System.Globalization.CultureInfo.InvariantCulture)}, got {(n is null ? Describe(value) : n.Value.ToString(System.Globalization.CultureInfo.InvariantCulture))}");
            return fallback;
        }

        return number;
    }

    /// <summary>A duration written as a string such as "500ms", "30s", "5m", "2h", "7d".</summary>
    public TimeSpan Duration(string key, TimeSpan fallback, TimeSpan min, TimeSpan max)
    {
        var text = Optional<string>(key, "a duration such as \"30s\", \"5m\" or \"1h\"");
        if (text is null)
        {
            return fallback;
        }

        if (!ConfigValues.TryParseDuration(text, out var d))
        {
            Error(key, $"expected a duration such as \"30s\", \"5m\" or \"1h\", got \"{text}\"");
            return fallback;
        }

        if (d < min || d > max)
        {
            Error(key, $"expected a duration from {ConfigValues.FormatDuration(min)} to {ConfigValues.FormatDuration(max)}, got \"{text}\"");
            return fallback;
        }

        return d;
    }

    /// <summary>A byte size: an integer, or a string such as "64KiB", "50MiB", "1GiB", "10MB".</summary>
    public long Size(string key, long fallback, long min, long max)
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return fallback;
        }

        long n;
        if (value is long l)
        {
            n = l;
        }
        else if (value is string s && ConfigValues.TryParseSize(s, out var parsed))
        {
            n = parsed;
        }
        else
        {
            Error(key, $"expected a size such as 1048576, \"64KiB\" or \"50MiB\", got {Describe(value)}");
            return fallback;
        }

        if (n < min || n > max)
        {
            Error(key, $"expected a size from {min} to {max} bytes, got {n}");
            return fallback;
        }

        return n;
    }

    public IReadOnlyList<string>? StringArray(string key)
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return null;
        }

        if (value is not TomlArray array)
        {
            Error(key, $"expected an array of strings, got {Describe(value)}");
            return null;
        }

        var result = new List<string>(array.Count);
        foreach (var item in array)
        {
            if (item is string s)
            {
                result.Add(s);
            }
            else
            {
                Error(key, $"expected an array of strings, found {Describe(item)} in it");
                return null;
            }
        }

        return result;
    }

    /// <summary>A sub-table, or null when absent (or of the wrong type, which is reported).</summary>
    public ConfigTable? Table(string key)
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return null;
        }

        if (value is TomlTable t)
        {
            return new ConfigTable(File, KeyPath(key), LineOf(key), t, _metadata, _errors);
        }

        Error(key, $"expected a table, got {Describe(value)}");
        return null;
    }

    /// <summary>
    /// The tables of an array of tables (<c>[[routes]]</c>), each with path <c>key[i]</c> and the
    /// line of its first key; empty when absent (or of the wrong type, which is reported).
    /// </summary>
    public IReadOnlyList<ConfigTable> TableArray(string key)
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return [];
        }

        if (value is not TomlTableArray array)
        {
            Error(key, $"expected an array of tables ([[{KeyPath(key)}]]), got {Describe(value)}");
            return [];
        }

        var tables = new List<ConfigTable>(array.Count);
        for (var i = 0; i < array.Count; i++)
        {
            var t = array[i];
            var line = LineOf(key);
            if (_metadata.TryGetProperties(t, out var props) && props is not null)
            {
                var first = int.MaxValue;
                foreach (var k in t.Keys)
                {
                    if (props.TryGetProperty(k, out var meta) && meta?.Span is { } span)
                    {
                        first = Math.Min(first, span.Start.Line + 1);
                    }
                }

                // The [[key]] header sits just above the first key.
                line = first == int.MaxValue ? line : first;
            }

            tables.Add(new ConfigTable(File, $"{KeyPath(key)}[{i}]", line, t, _metadata, _errors));
        }

        return tables;
    }

    /// <summary>Every sub-table of this table, keyed by name (for <c>[listeners.NAME]</c> style sections).</summary>
    public IEnumerable<(string Name, ConfigTable Table)> NamedTables()
    {
        foreach (var key in _table.Keys.ToList())
        {
            if (Table(key) is { } t)
            {
                yield return (key, t);
            }
        }
    }

    /// <summary>Every key of this table with its string value (for maps such as <c>[log.components]</c>).</summary>
    public IEnumerable<(string Key, string Value)> StringEntries()
    {
        foreach (var key in _table.Keys.ToList())
        {
            if (Optional<string>(key, "a string") is { } v)
            {
                yield return (key, v);
            }
        }
    }

    /// <summary>Reports every key of this table that no reader asked for.</summary>
    public void Finish()
    {
        foreach (var key in _table.Keys)
        {
            if (!_known.Contains(key))
            {
                Error(key, "unknown key");
            }
        }
    }

    private T? Optional<T>(string key, string expected)
        where T : class
    {
        _known.Add(key);
        if (!_table.TryGetValue(key, out var value))
        {
            return null;
        }

        if (value is T t)
        {
            return t;
        }

        Error(key, $"expected {expected}, got {Describe(value)}");
        return null;
    }

    private static string Describe(object? value) => value switch
    {
        null => "nothing",
        string s => $"the string \"{s}\"",
        long n => $"the integer {n.ToString(CultureInfo.InvariantCulture)}",
        double d => $"the number {d.ToString(CultureInfo.InvariantCulture)}",
        bool b => b ? "true" : "false",
        TomlTable => "a table",
        TomlArray => "an array",
        TomlTableArray => "an array of tables",
        _ => "a " + value.GetType().Name,
    };
}
