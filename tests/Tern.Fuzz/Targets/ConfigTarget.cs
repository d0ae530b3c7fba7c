using System.Text;
using Tern.Config;
using Tern.Fuzz.Support;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The configuration file (TOML, src/Tern/Config): <see cref="ConfigLoader.Parse"/> on the input as
/// UTF-8 text, relative paths resolved against an empty directory. Bad input may only come back as a
/// <see cref="ConfigException"/> listing at least one <see cref="ConfigError"/>.
/// </summary>
internal static class ConfigTarget
{
    private static readonly Lazy<string> BaseDirectory = new(() => TempDirectory.Create("tern-fuzz-config-"));

    public static void Run(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        try
        {
            var config = ConfigLoader.Parse(text, "fuzz.toml", BaseDirectory.Value);
            FuzzInvariantException.Check(config is not null, "Parse returned null");
        }
        catch (ConfigException e)
        {
            FuzzInvariantException.Check(e.Errors.Count > 0, "ConfigException without errors: " + e.Message);
            foreach (var error in e.Errors)
            {
                FuzzInvariantException.Check(error.Message.Length > 0 && error.File == "fuzz.toml", "error without message or file: " + error);
            }
        }
    }
}
