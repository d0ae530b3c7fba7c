using System.Buffers;
using System.Text;

namespace Tern.Observability.Logging;

/// <summary>
/// Serialises whole log lines onto one stream (stderr in the host) so that lines from concurrent
/// threads never interleave.
/// </summary>
public sealed class LogSink(Stream output) : IDisposable
{
    private readonly Lock _lock = new();

    public void Write(StringBuilder line)
    {
        var chars = line.Length;
        var rented = ArrayPool<char>.Shared.Rent(chars);
        var bytes = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(chars));
        try
        {
            line.CopyTo(0, rented, 0, chars);
            var n = Encoding.UTF8.GetBytes(rented, 0, chars, bytes, 0);
            lock (_lock)
            {
                output.Write(bytes, 0, n);
                output.Flush();
            }
        }
        catch (IOException)
        {
            // A closed stderr (e.g. the operator's pipe went away) must not take the server down.
        }
        finally
        {
            ArrayPool<char>.Shared.Return(rented);
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            output.Flush();
        }
    }
}
