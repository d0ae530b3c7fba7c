using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using HdrHistogram;
using Tern.Benchmarks.SpoolLoad;

namespace Tern.Benchmarks.Injection;

/// <summary>
/// <c>http-inject</c>: drives a running Tern's injection API (<c>POST /api/v1/messages</c>) with a
/// fixed number of messages from concurrent clients, each keeping its connection (like
/// <c>smtp-source -d</c>), and reports the rate and the latency of an answer (which comes only once
/// the message is durable). bench/compare-injection.sh runs it against smtp-source on the same
/// server. Only loopback addresses are accepted as targets.
/// </summary>
internal static class InjectLoadCommand
{
    public const string Verb = "http-inject";

    public static int Run(string[] args)
    {
        try
        {
            var a = LoadArguments.Parse(args);
            var url = new Uri(a.String("url") ?? throw new ArgumentException("--url is required (http://127.0.0.1:PORT)"));
            if (!IPAddress.TryParse(url.Host, out var ip) || !IPAddress.IsLoopback(ip))
            {
                throw new ArgumentException($"--url: {url.Host} is not a loopback address");
            }

            var token = a.String("token") ?? throw new ArgumentException("--token is required");
            var messages = (int)a.Long("messages", 10_000);
            var sessions = a.Int("sessions", 20);
            var size = a.Int("size", 1024);
            var from = a.String("from") ?? "alice@example.org";
            var to = a.String("to") ?? "b@example.net";
            return RunAsync(new Uri(url, "/api/v1/messages"), token, messages, sessions, size, from, to).GetAwaiter().GetResult();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"http-inject: {e.Message}");
            Console.Error.WriteLine("usage: Tern.Benchmarks http-inject --url http://127.0.0.1:PORT --token TOKEN [--messages 10000] [--sessions 20] [--size 1024] [--from A] [--to B]");
            return 2;
        }
    }

    private static async Task<int> RunAsync(Uri endpoint, string token, int messages, int sessions, int size, string from, string to)
    {
        var body = Request(from, to, size);
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = sessions, PooledConnectionLifetime = Timeout.InfiniteTimeSpan, UseProxy = false };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var latency = new LongHistogram(TimeStamp.Minutes(2), 3);
        var byStatus = new Dictionary<int, int>();
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, sessions).Select(_ => Task.Run(async () =>
        {
            var mine = new LongHistogram(TimeStamp.Minutes(2), 3);
            var statuses = new Dictionary<int, int>();
            while (Interlocked.Increment(ref next) < messages)
            {
                var t0 = Stopwatch.GetTimestamp();
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                int status;
                try
                {
                    using var response = await http.PostAsync(endpoint, content).ConfigureAwait(false);
                    await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                    status = (int)response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    status = 0;
                }

                mine.RecordValue(Math.Max(1, Stopwatch.GetTimestamp() - t0));
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
            }

            lock (latency)
            {
                latency.Add(mine);
                foreach (var (s, n) in statuses)
                {
                    byStatus[s] = byStatus.GetValueOrDefault(s) + n;
                }
            }
        })).ToArray();
        await Task.WhenAll(workers).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var ok = byStatus.Where(p => p.Key is >= 200 and < 300).Sum(p => p.Value);
        double Ms(double q) => latency.GetValueAtPercentile(q) * 1000.0 / Stopwatch.Frequency;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT http-inject messages={messages} sessions={sessions} size={size} ok={ok} failed={messages - ok} " +
            $"statuses={string.Join(',', byStatus.OrderBy(p => p.Key).Select(p => $"{p.Key}:{p.Value}"))} seconds={seconds:0.000} " +
            $"rate={ok / seconds:0} p50_ms={Ms(50):0.000} p99_ms={Ms(99):0.000} max_ms={latency.GetMaxValue() * 1000.0 / Stopwatch.Frequency:0.000}"));
        return ok == messages ? 0 : 1;
    }

    /// <summary>One request body, built once: a raw message of about <paramref name="size"/> bytes.</summary>
    private static byte[] Request(string from, string to, int size)
    {
        var text = new StringBuilder();
        text.Append("From: <").Append(from).Append(">\r\nTo: <").Append(to).Append(">\r\nSubject: http-inject\r\n\r\n");
        while (text.Length < size)
        {
            text.Append("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n");
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("from", from);
            json.WriteStartArray("to");
            json.WriteStringValue(to);
            json.WriteEndArray();
            json.WriteString("raw", text.ToString());
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
