using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Tern.Load.Report;
using Tern.Load.Send;
using Tern.Load.Sink;

namespace Tern.Load.Http;

/// <summary>
/// Runs <c>tern-load http</c>: <see cref="HttpSettings.Sessions"/> concurrent requests to the
/// injection API over a pool of at most that many keep-alive connections (HttpClient with
/// SocketsHttpHandler, HTTP/1.1). A 2xx answer is a success; any other status is a failure with
/// the status as its code, and a broken connection, a refused connect or no answer within the
/// timeout are failures of their kind. Messages are handed out by the same schedule as
/// <c>send</c> (<see cref="MessageSchedule"/>), so --rate and the open model mean the same there.
/// </summary>
internal sealed class HttpLoad
{
    /// <summary>Most of an answer kept (to find the queue id, or say why it failed); the rest is read and dropped.</summary>
    private const int AnswerBuffer = 16 * 1024;

    private readonly HttpSettings _settings;
    private readonly RunStats _stats;
    private readonly MessageTemplates _templates;
    private readonly HttpBodies _bodies;
    private readonly IdsWriter? _ids;
    private string? _firstFailure;

    public HttpLoad(HttpSettings settings, RunStats stats, IdsWriter? ids)
    {
        _settings = settings;
        _stats = stats;
        _ids = ids;
        _templates = new MessageTemplates(settings.Sizes.Items, settings.From, MessageTemplates.NewRunId());
        _bodies = new HttpBodies(_templates, settings.RcptDomains.Items, settings.From, settings.Structured);
    }

    /// <summary>The run id of the Message-IDs (RUNID.SEQ@tern-load.test).</summary>
    public string RunId => _templates.RunId;

    /// <summary>The first failure's status and answer (or exception), to tell the user why; null when none failed.</summary>
    public string? FirstFailure => Volatile.Read(ref _firstFailure);

    /// <summary>Sends until the message count or the duration is reached, or <paramref name="cancel"/>.</summary>
    public async Task RunAsync(CancellationToken cancel)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = _settings.Sessions,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            ConnectTimeout = _settings.Timeout,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectCallback = ConnectAsync,
        };
        using var client = new HttpClient(handler, disposeHandler: false) { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + _settings.Token);
        client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", "tern-load");

        _stats.Start();
        var schedule = new MessageSchedule(_settings.Messages, _settings.Duration, _settings.Rate, _settings.Model, cancel);
        var sessions = new Task[_settings.Sessions];
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i] = Task.Run(() => SessionAsync(client, schedule, cancel), CancellationToken.None);
        }

        await Task.WhenAll(sessions);
    }

    /// <summary>Counts the pool's connections (the summary's "connections") and sets TCP_NODELAY.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancel)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancel);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _stats.ConnectionOpened();
        return new NetworkStream(socket, ownsSocket: true);
    }

    private async Task SessionAsync(HttpClient client, MessageSchedule schedule, CancellationToken cancel)
    {
        var body = new byte[_bodies.MaxLength];
        var answer = new byte[AnswerBuffer];
        var idLine = new byte[256];
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        try
        {
            while (schedule.TryClaim(out var seq, out var due))
            {
                if (!await schedule.WaitUntilAsync(due))
                {
                    break;
                }

                var mixed = Weighted<int>.Mix((ulong)seq);
                var index = _bodies.Index(_settings.Sizes.Pick(mixed), _settings.RcptDomains.Pick(Weighted<int>.Mix(mixed)));
                var length = _bodies.CopyTo(index, seq, body);
                if (!timeout.TryReset())
                {
                    timeout.Dispose();
                    timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                }

                timeout.CancelAfter(_settings.Timeout);
                var start = _settings.Model == LoadModel.Open ? due : Stopwatch.GetTimestamp();
                using var request = new HttpRequestMessage(HttpMethod.Post, _settings.Url)
                {
                    Version = HttpVersion.Version11,
                    VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                    Content = new ReadOnlyMemoryContent(body.AsMemory(0, length)),
                };
                request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
                try
                {
                    using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                    var answered = await ReadAnswerAsync(response, answer, timeout.Token);
                    var status = (int)response.StatusCode;
                    if (status is >= 200 and < 300)
                    {
                        _stats.RecordOk(Stopwatch.GetElapsedTime(start).Ticks / TimeSpan.TicksPerMicrosecond, _bodies.MessageLength(index));
                        if (_ids is not null)
                        {
                            WriteId(idLine, seq, status, answer.AsSpan(0, answered));
                        }
                    }
                    else
                    {
                        _stats.RecordFailed(FailureKind.Reply, status);
                        NoteFailure(() => $"HTTP {status}: {Encoding.UTF8.GetString(answer, 0, Math.Min(answered, 300)).Trim()}");
                    }
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    // Interrupted (Ctrl+C): the message is neither ok nor failed; the run ends.
                    break;
                }
                catch (OperationCanceledException)
                {
                    _stats.RecordFailed(FailureKind.Timeout);
                    NoteFailure(() => $"no answer within {Durations.Format(_settings.Timeout)} (--timeout)");
                }
                catch (HttpRequestException e)
                {
                    _stats.RecordFailed(Kind(e));
                    NoteFailure(() => $"{Kind(e).ToString().ToLowerInvariant()}: {e.Message}");
                }
                catch (IOException e)
                {
                    _stats.RecordFailed(FailureKind.Disconnect);
                    NoteFailure(() => "disconnect: " + e.Message);
                }
            }
        }
        finally
        {
            timeout.Dispose();
        }
    }

    /// <summary>Reads the answer into <paramref name="buffer"/> (what fits; the rest is drained so the connection can be reused).</summary>
    private static async Task<int> ReadAnswerAsync(HttpResponseMessage response, byte[] buffer, CancellationToken cancel)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancel);
        var length = 0;
        while (true)
        {
            var n = length < buffer.Length
                ? await stream.ReadAsync(buffer.AsMemory(length), cancel)
                : await stream.ReadAsync(buffer.AsMemory(buffer.Length / 2), cancel);
            if (n == 0)
            {
                return length;
            }

            length = Math.Min(length + n, buffer.Length);
        }
    }

    /// <summary>How a request that got no HTTP answer failed.</summary>
    private static FailureKind Kind(HttpRequestException e) => e.HttpRequestError switch
    {
        HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.ProxyTunnelError => FailureKind.Connect,
        HttpRequestError.SecureConnectionError => FailureKind.Tls,
        HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError or HttpRequestError.VersionNegotiationError or HttpRequestError.ConfigurationLimitExceeded => FailureKind.Protocol,
        _ => FailureKind.Disconnect,
    };

    /// <summary>One --ids line: RUNID.SEQ@tern-load.test TAB status SP queue id.</summary>
    private void WriteId(byte[] line, long seq, int status, ReadOnlySpan<byte> answer)
    {
        var span = line.AsSpan();
        var n = 0;
        _templates.RunIdBytes.CopyTo(span);
        n += _templates.RunIdBytes.Length;
        span[n++] = (byte)'.';
        seq.TryFormat(span[n..], out var w, default, CultureInfo.InvariantCulture);
        n += w;
        span[n++] = (byte)'@';
        "tern-load.test\t"u8.CopyTo(span[n..]);
        n += 15;
        status.TryFormat(span[n..], out w, default, CultureInfo.InvariantCulture);
        n += w;
        span[n++] = (byte)' ';
        n += QueueId(answer, span[n..]);
        _ids!.Write(span[..n]);
    }

    /// <summary>
    /// Copies the top-level "id" of a 202 answer (<c>{"id":"01M94...","recipients":[...]}</c>) into
    /// <paramref name="destination"/>; writes "-" when there is none (or it does not fit).
    /// </summary>
    internal static int QueueId(ReadOnlySpan<byte> answer, Span<byte> destination)
    {
        try
        {
            var reader = new Utf8JsonReader(answer, isFinalBlock: false, state: default);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isId = reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8);
                    if (!reader.Read())
                    {
                        break;
                    }

                    if (isId && reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped
                        && reader.ValueSpan.Length is > 0 and < 100 && reader.ValueSpan.Length <= destination.Length
                        && reader.ValueSpan.IndexOfAny("\t\r\n "u8) < 0)
                    {
                        reader.ValueSpan.CopyTo(destination);
                        return reader.ValueSpan.Length;
                    }

                    if (!reader.TrySkip())
                    {
                        break;
                    }
                }
            }
        }
        catch (JsonException)
        {
        }

        destination[0] = (byte)'-';
        return 1;
    }

    private void NoteFailure(Func<string> describe)
    {
        if (Volatile.Read(ref _firstFailure) is null)
        {
            Interlocked.CompareExchange(ref _firstFailure, describe(), null);
        }
    }
}
