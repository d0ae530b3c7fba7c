using System.Globalization;
using System.Text;
using Tern.Load.Send;

namespace Tern.Load.Http;

/// <summary>
/// The request bodies of a run, JSON built once per (size class, recipient domain): the raw form
/// <c>{"from":..,"to":[..],"raw":"RFC 5322 message"}</c> with the same message bytes <c>send</c>
/// uses (<see cref="MessageTemplates"/>), or the structured form
/// <c>{"message":{"from":..,"to":[..],"subject":..,"text":..,"headers":{"Message-ID":"<..>"}}}</c>.
/// Each body has a fixed-width slot for the sequence number of its Message-ID, which a session
/// patches in its own copy, so a request costs one copy and no allocation of ours. In the raw form
/// the slot's padding spaces follow the msg-id inside the header (CFWS, RFC 5322 3.6.4); in the
/// structured form they follow the JSON string (insignificant white space, RFC 8259 2).
/// </summary>
internal sealed class HttpBodies
{
    /// <summary>Room for any long in the slot.</summary>
    private const int Digits = 20;

    private static readonly byte[] RawSuffix = Encoding.ASCII.GetBytes("@" + MessageTemplates.IdDomain + ">");
    private static readonly byte[] StructuredSuffix = Encoding.ASCII.GetBytes("@" + MessageTemplates.IdDomain + ">\"");

    private readonly byte[][] _bodies;
    private readonly int[] _slots;
    private readonly int[] _messageLengths;
    private readonly byte[] _suffix;
    private readonly int _domains;

    public HttpBodies(MessageTemplates templates, IReadOnlyList<string> domains, string from, bool structured)
    {
        _domains = domains.Count;
        _suffix = structured ? StructuredSuffix : RawSuffix;
        var count = templates.Contents.Length * domains.Count;
        _bodies = new byte[count][];
        _slots = new int[count];
        _messageLengths = new int[count];
        for (var s = 0; s < templates.Contents.Length; s++)
        {
            for (var d = 0; d < domains.Count; d++)
            {
                var i = (s * _domains) + d;
                (_bodies[i], _slots[i]) = structured
                    ? BuildStructured(templates, s, from, Recipient(domains[d]))
                    : BuildRaw(templates, s, from, Recipient(domains[d]));
                _messageLengths[i] = templates.Contents[s].Length;
                Patch(i, _bodies[i], 0);
            }
        }

        MaxLength = _bodies.Max(b => b.Length);
    }

    /// <summary>The longest body: the size of a session's copy buffer.</summary>
    public int MaxLength { get; }

    /// <summary>The body index of a size class and recipient domain.</summary>
    public int Index(int sizeClass, int domain) => (sizeClass * _domains) + domain;

    /// <summary>The RFC 5322 message size of a body (what the throughput counts).</summary>
    public int MessageLength(int index) => _messageLengths[index];

    /// <summary>The recipient of a domain's messages.</summary>
    public static string Recipient(string domain) => "rcpt@" + domain;

    /// <summary>Copies body <paramref name="index"/> into <paramref name="destination"/> with sequence number <paramref name="seq"/>; returns its length.</summary>
    public int CopyTo(int index, long seq, Span<byte> destination)
    {
        var body = _bodies[index];
        body.CopyTo(destination);
        Patch(index, destination, seq);
        return body.Length;
    }

    private void Patch(int index, Span<byte> body, long seq)
    {
        var slot = body.Slice(_slots[index], Digits + _suffix.Length);
        seq.TryFormat(slot, out var n, default, CultureInfo.InvariantCulture);
        _suffix.CopyTo(slot[n..]);
        slot[(n + _suffix.Length)..].Fill((byte)' ');
    }

    private static (byte[] Body, int Slot) BuildRaw(MessageTemplates templates, int sizeClass, string from, string recipient)
    {
        var content = templates.Contents[sizeClass];
        var idOffset = templates.IdOffsets[sizeClass];
        var b = new List<byte>(content.Length + 256);
        Append(b, "{\"from\":");
        AppendString(b, from);
        Append(b, ",\"to\":[");
        AppendString(b, recipient);
        Append(b, "],\"raw\":\"");
        AppendEscaped(b, content.AsSpan(0, idOffset));
        var slot = b.Count;
        b.AddRange(new byte[Digits + RawSuffix.Length]);
        AppendEscaped(b, content.AsSpan(idOffset + MessageTemplates.IdSlot));
        Append(b, "\"}");
        return ([.. b], slot);
    }

    private static (byte[] Body, int Slot) BuildStructured(MessageTemplates templates, int sizeClass, string from, string recipient)
    {
        var content = templates.Contents[sizeClass];
        var bodyStart = content.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        var b = new List<byte>(content.Length + 256);
        Append(b, "{\"message\":{\"from\":");
        AppendString(b, from);
        Append(b, ",\"to\":[");
        AppendString(b, recipient);
        Append(b, "],\"subject\":");
        AppendString(b, $"tern-load {content.Length.ToString(CultureInfo.InvariantCulture)} bytes");
        Append(b, ",\"text\":\"");
        AppendEscaped(b, content.AsSpan(bodyStart));
        Append(b, "\",\"headers\":{\"Message-ID\":\"<");
        AppendEscaped(b, Encoding.ASCII.GetBytes(templates.RunId + "."));
        var slot = b.Count;
        b.AddRange(new byte[Digits + StructuredSuffix.Length]);
        Append(b, "}}}");
        return ([.. b], slot);
    }

    private static void Append(List<byte> b, string ascii) => b.AddRange(Encoding.ASCII.GetBytes(ascii));

    private static void AppendString(List<byte> b, string text)
    {
        b.Add((byte)'"');
        AppendEscaped(b, Encoding.UTF8.GetBytes(text));
        b.Add((byte)'"');
    }

    /// <summary>UTF-8 text as the inside of a JSON string (RFC 8259 7): quote, backslash and control characters escaped.</summary>
    internal static void AppendEscaped(List<byte> b, ReadOnlySpan<byte> utf8)
    {
        foreach (var c in utf8)
        {
            switch (c)
            {
                case (byte)'"':
                    Append(b, "\\\"");
                    break;
                case (byte)'\\':
                    Append(b, "\\\\");
                    break;
                case (byte)'\r':
                    Append(b, "\\r");
                    break;
                case (byte)'\n':
                    Append(b, "\\n");
                    break;
                case (byte)'\t':
                    Append(b, "\\t");
                    break;
                case < 0x20:
                    Append(b, "\\u00" + c.ToString("x2", CultureInfo.InvariantCulture));
                    break;
                default:
                    b.Add(c);
                    break;
            }
        }
    }
}
