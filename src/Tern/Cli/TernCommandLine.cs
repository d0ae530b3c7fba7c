using System.CommandLine;
using Tern.Config;
using Tern.Hosting;

namespace Tern.Cli;

/// <summary>The command tree: <c>tern serve</c>, <c>tern config check|example</c>, <c>tern account ...</c>, <c>tern queue ...</c>, <c>tern suppression ...</c>, <c>tern dane tlsa</c>, <c>tern mta-sts list</c>, <c>tern version</c>.</summary>
public static class TernCommandLine
{
    public static RootCommand Build(TextWriter stdout, TextWriter stderr)
    {
        var serve = new Command("serve", "Run the mail server until SIGTERM or SIGINT.");
        var serveConfig = ConfigOption();
        serve.Options.Add(serveConfig);
        serve.SetAction((result, cancel) =>
        {
            var config = LoadOrReport(result.GetValue(serveConfig), stderr);
            return config is null
                ? Task.FromResult(ExitCodes.Config)
                : TernHost.RunAsync(config, result.GetValue(serveConfig)?.FullName, stdout, stderr, cancel);
        });

        var check = new Command("check", "Check a configuration file; print every problem with its line and key.");
        var checkConfig = ConfigOption();
        check.Options.Add(checkConfig);
        check.SetAction(result =>
        {
            var file = result.GetValue(checkConfig);
            var config = LoadOrReport(file, stderr);
            if (config is null)
            {
                return ExitCodes.Config;
            }

            stdout.WriteLine($"{config.Source}: ok ({config.Listeners.Count} listener{(config.Listeners.Count == 1 ? "" : "s")})");
            return ExitCodes.Ok;
        });

        var example = new Command("example", "Print a fully commented example configuration (all defaults).");
        example.SetAction(_ =>
        {
            stdout.Write(ConfigLoader.Example());
            return ExitCodes.Ok;
        });

        var configCommand = new Command("config", "Work with the configuration file.") { check, example };

        var version = new Command("version", "Print the version and build of this binary.");
        version.SetAction(_ =>
        {
            stdout.WriteLine(BuildInfo.Describe());
            return ExitCodes.Ok;
        });

        var account = AccountCommands.Build(stdout, stderr, ConfigOption);
        var queue = QueueCommands.Build(stdout, stderr, ConfigOption);
        var suppression = SuppressionCommands.Build(stdout, stderr, ConfigOption);
        var dane = DaneCommands.Build(stdout, stderr, ConfigOption);
        var mtaSts = MtaStsCommands.Build(stdout, stderr, ConfigOption);
        return new RootCommand("Tern: a high-volume SMTP relay and mail server.") { serve, configCommand, account, queue, suppression, dane, mtaSts, version };
    }

    /// <summary>Parses and runs; command-line errors print with usage and exit with <see cref="ExitCodes.Usage"/>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        var root = Build(stdout, stderr);
        // No response files: "@example.org" is a sender pattern, not a file of arguments.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await stderr.WriteLineAsync("tern: " + error.Message);
            }

            await stderr.WriteLineAsync("Run 'tern --help' for usage.");
            return ExitCodes.Usage;
        }

        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancel);
    }

    private static Option<FileInfo> ConfigOption() => new("--config", "-c")
    {
        Description = "Configuration file (TOML). Without it Tern runs on its embedded default configuration.",
    };

    internal static TernConfig? LoadOrReport(FileInfo? file, TextWriter stderr)
    {
        try
        {
            return file is null ? ConfigLoader.Default() : ConfigLoader.Load(file.ToString());
        }
        catch (ConfigException e)
        {
            foreach (var error in e.Errors)
            {
                stderr.WriteLine(error.ToString());
            }

            stderr.WriteLine($"tern: {e.Errors.Count} error{(e.Errors.Count == 1 ? "" : "s")} in the configuration");
            return null;
        }
    }
}
