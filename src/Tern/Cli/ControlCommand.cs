using System.CommandLine;
using System.Text;
using Tern.Control;

namespace Tern.Cli;

/// <summary>What the commands that talk to the running server share: one request over the control socket, tables, the next-page command.</summary>
internal static class ControlCommand
{
    /// <summary>
    /// Sends one request to the server of the data directory that <paramref name="configOption"/>
    /// names; prints its result (or the raw JSON) and maps failures to exit codes: the server's
    /// refusal 1, no server 69 (<see cref="ExitCodes.Unavailable"/>), a bad configuration 78.
    /// </summary>
    public static async Task<int> CallAsync(TextWriter stdout, TextWriter stderr, ParseResult r, Option<FileInfo> configOption, ControlRequest request, bool json, Action<ControlResponse> print, CancellationToken cancel)
    {
        var (reply, code) = await ExchangeAsync(stderr, r, configOption, (client, c) => client.SendAsync(request, cancel: c), cancel);
        if (reply is null)
        {
            return code;
        }

        if (json)
        {
            await stdout.WriteLineAsync(reply.Raw);
            return reply.Response.Ok ? ExitCodes.Ok : ExitCodes.Failure;
        }

        if (!reply.Response.Ok)
        {
            await stderr.WriteLineAsync("tern: " + (reply.Response.Error ?? "the server refused the request"));
            return ExitCodes.Failure;
        }

        print(reply.Response);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Loads the configuration and runs one exchange with the server of its data directory. Returns
    /// the reply, or null and the exit code when there was none (the reason already printed).
    /// </summary>
    public static async Task<(ControlReply? Reply, int Code)> ExchangeAsync(
        TextWriter stderr, ParseResult r, Option<FileInfo> configOption, Func<ControlClient, CancellationToken, Task<ControlReply>> exchange, CancellationToken cancel)
    {
        var config = TernCommandLine.LoadOrReport(r.GetValue(configOption), stderr);
        if (config is null)
        {
            return (null, ExitCodes.Config);
        }

        try
        {
            return (await exchange(new ControlClient(ControlServer.PathIn(config.DataDirectory)), cancel), ExitCodes.Ok);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // Ctrl-C: an operation the server already started still completes there.
            await stderr.WriteLineAsync("tern: interrupted; the server may still complete the request");
            return (null, ExitCodes.Failure);
        }
        catch (ControlUnavailableException e)
        {
            await stderr.WriteLineAsync(e.Message);
            return (null, ExitCodes.Unavailable);
        }
        catch (ControlClientException e)
        {
            await stderr.WriteLineAsync("tern: " + e.Message);
            return (null, ExitCodes.Failure);
        }
    }

    /// <summary>Columns padded to their widest cell, two spaces apart; the last column is not padded.</summary>
    public static void WriteTable(TextWriter stdout, string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.Prepend(header).ToList();
        var widths = new int[header.Length];
        foreach (var row in all)
        {
            for (var i = 0; i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        var sb = new StringBuilder();
        foreach (var row in all)
        {
            sb.Clear();
            for (var i = 0; i < row.Length; i++)
            {
                sb.Append(i == row.Length - 1 ? row[i] : row[i].PadRight(widths[i] + 2));
            }

            stdout.WriteLine(sb.ToString().TrimEnd());
        }
    }

    /// <summary>An option as it was typed (name and values); nothing when it was not given.</summary>
    public static IEnumerable<string> Tokens(ParseResult r, Option option)
    {
        if (r.GetResult(option) is not { Implicit: false } result)
        {
            return [];
        }

        return result.Tokens.Count == 0 ? [option.Name] : result.Tokens.SelectMany(t => new[] { option.Name, t.Value });
    }

    /// <summary>Quotes a word for a POSIX shell when it needs it.</summary>
    public static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || c is '@' or '.' or '_' or '-' or ':' or '/' or '+' or '=' or ',')
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
