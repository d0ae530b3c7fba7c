namespace Tern.Config;

/// <summary>One problem in a configuration file, located by file, line and dotted key.</summary>
public sealed record ConfigError(string File, int Line, string Key, string Message)
{
    public override string ToString()
    {
        var where = Line > 0 ? $"{File}:{Line}" : File;
        return Key.Length > 0 ? $"{where}: {Key}: {Message}" : $"{where}: {Message}";
    }
}

/// <summary>The configuration cannot be used; <see cref="Errors"/> lists every problem found.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException(IReadOnlyList<ConfigError> errors)
        : base(string.Join(Environment.NewLine, errors))
    {
        Errors = errors;
    }

    public ConfigException()
        : this([])
    {
    }

    public ConfigException(string message)
        : base(message)
    {
        Errors = [];
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [];
    }

    public IReadOnlyList<ConfigError> Errors { get; }
}
