using System.Buffers;
using System.Net.Sockets;
using System.Text.Json;

namespace Tern.Control;

/// <summary>Nothing listens on the control socket: Tern is not running on this data directory.</summary>
internal sealed class ControlUnavailableException(string message) : Exception(message);

/// <summary>The exchange failed (permission, a broken connection, a garbled answer); the message says how.</summary>
internal sealed class ControlClientException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A response with the exact text it arrived as (for <c>--json</c>).</summary>
internal sealed record ControlReply(ControlResponse Response, string Raw);

/// <summary>The command line's side of the control socket: one request per connection (see ControlProtocol.cs).</summary>
internal sealed class ControlClient(string socketPath)
{
    /// <summary>
    /// How long to wait for an answer. Generous: an operation over a large queue appends and
    /// commits a record per message before the server answers.
    /// </summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    public string SocketPath { get; } = socketPath;

    /// <exception cref="ControlUnavailableException">No server listens on the socket.</exception>
    /// <exception cref="ControlClientException">The request could not be made or the answer read.</exception>
    public Task<ControlReply> SendAsync(ControlRequest request, TimeSpan? timeout = null, CancellationToken cancel = default) =>
        ExchangeAsync(request, null, timeout, cancel);

    /// <summary>
    /// A request whose successful answer carries raw content after its line (cat): the content is
    /// copied to <paramref name="destination"/> as it arrives, never held whole. On an error
    /// answer nothing is written.
    /// </summary>
    /// <exception cref="ControlUnavailableException">No server listens on the socket.</exception>
    /// <exception cref="ControlClientException">The request could not be made, the answer read, or the content written.</exception>
    public Task<ControlReply> SendForContentAsync(ControlRequest request, Stream destination, TimeSpan? timeout = null, CancellationToken cancel = default) =>
        ExchangeAsync(request, destination, timeout, cancel);

    private async Task<ControlReply> ExchangeAsync(ControlRequest request, Stream? destination, TimeSpan? timeout, CancellationToken cancel)
    {
        var line = ControlJson.Encode(request);
        if (line.Length > ControlLimits.MaxRequestBytes)
        {
            throw new ControlClientException($"request of {line.Length} bytes exceeds the limit of {ControlLimits.MaxRequestBytes}; select with a filter instead of listing ids");
        }

        UnixDomainSocketEndPoint endpoint;
        try
        {
            endpoint = new UnixDomainSocketEndPoint(SocketPath);
        }
        catch (ArgumentException)
        {
            // The server refuses such a data directory too, so nothing can be listening there.
            throw new ControlUnavailableException($"tern is not running (the control socket path {SocketPath} is too long for a unix socket)");
        }

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(timeout ?? DefaultTimeout);
        try
        {
            await socket.ConnectAsync(endpoint, deadline.Token);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported || !File.Exists(SocketPath))
        {
            throw new ControlUnavailableException($"tern is not running (no control socket at {SocketPath})");
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused)
        {
            throw new ControlUnavailableException($"tern is not running (nothing listens on the control socket at {SocketPath})");
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AccessDenied)
        {
            throw new ControlClientException($"permission denied on {SocketPath}: only the owner of the data directory may use the control socket");
        }
        catch (SocketException e)
        {
            throw new ControlClientException($"cannot connect to {SocketPath}: {e.Message}", e);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new ControlClientException($"no connection to {SocketPath} within {timeout ?? DefaultTimeout}");
        }

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            await stream.WriteAsync(line, deadline.Token);
        }
        catch (IOException)
        {
            // The server may have refused the request and closed before reading all of it; its
            // answer says why, so read that rather than report a broken pipe.
        }

        try
        {
            var (raw, rest) = await ReadLineAsync(stream, deadline.Token);
            var reply = new ControlReply(ControlJson.DecodeResponse(raw), System.Text.Encoding.UTF8.GetString(raw));
            if (destination is not null && reply.Response.Ok)
            {
                await CopyContentAsync(stream, rest, reply.Response.Size, destination, cancel);
            }

            return reply;
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new ControlClientException($"no answer on {SocketPath} within {timeout ?? DefaultTimeout}");
        }
        catch (IOException e)
        {
            throw new ControlClientException($"connection to {SocketPath} broken: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw new ControlClientException($"unreadable answer on {SocketPath}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Copies exactly <paramref name="size"/> bytes (those read past the line first) to
    /// <paramref name="destination"/>. No deadline for the whole (the reader of the output sets the
    /// pace, as the server allows); only the socket going quiet for <see cref="ControlLimits.ContentTimeout"/> ends it.
    /// </summary>
    private async Task CopyContentAsync(NetworkStream stream, byte[] rest, long? size, Stream destination, CancellationToken cancel)
    {
        if (size is not { } total || total < 0 || rest.Length > total)
        {
            throw new ControlClientException($"unreadable answer on {SocketPath}: the content does not match its size ({size?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"})");
        }

        await WriteAsync(destination, rest, cancel);
        var copied = (long)rest.Length;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        try
        {
            while (copied < total)
            {
                int n;
                quiet.CancelAfter(ControlLimits.ContentTimeout);
                try
                {
                    n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, total - copied)), quiet.Token);
                }
                catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
                {
                    throw new ControlClientException($"the message stopped arriving on {SocketPath} after {copied} of {total} bytes");
                }

                if (n == 0)
                {
                    throw new IOException($"the server closed the connection after {copied} of {total} bytes");
                }

                await WriteAsync(destination, buffer.AsMemory(0, n), cancel);
                copied += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        try
        {
            await destination.FlushAsync(cancel);
        }
        catch (IOException e)
        {
            throw new ControlClientException($"cannot write the message: {e.Message}", e);
        }

        // Not an IOException: the reader of the output went away (EPIPE), the connection is fine.
        static async Task WriteAsync(Stream destination, ReadOnlyMemory<byte> bytes, CancellationToken cancel)
        {
            try
            {
                await destination.WriteAsync(bytes, cancel);
            }
            catch (IOException e)
            {
                throw new ControlClientException($"cannot write the message: {e.Message}", e);
            }
        }
    }

    /// <summary>The response line without its '\n', and whatever was read past it.</summary>
    private static async Task<(byte[] Line, byte[] After)> ReadLineAsync(NetworkStream stream, CancellationToken cancel)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var used = 0;
        try
        {
            while (true)
            {
                if (used == buffer.Length)
                {
                    if (buffer.Length >= ControlLimits.MaxResponseBytes)
                    {
                        throw new ControlClientException($"answer on the control socket exceeds {ControlLimits.MaxResponseBytes} bytes");
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, used).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                var n = await stream.ReadAsync(buffer.AsMemory(used), cancel);
                if (n == 0)
                {
                    if (used == 0)
                    {
                        throw new IOException("the server closed the connection without an answer (is it shutting down?)");
                    }

                    return (buffer.AsSpan(0, used).ToArray(), []);
                }

                var nl = buffer.AsSpan(used, n).IndexOf((byte)'\n');
                if (nl >= 0)
                {
                    return (buffer.AsSpan(0, used + nl).ToArray(), buffer.AsSpan(used + nl + 1, n - nl - 1).ToArray());
                }

                used += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
