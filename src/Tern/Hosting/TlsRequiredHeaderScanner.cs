namespace Tern.Hosting;

/// <summary>
/// Watches a message's header section as it streams into the spool for a TLS-Required field
/// (RFC 8689 section 5): the sender's own word on TLS, which the automatic REQUIRETLS choice must
/// not override. Only the field name counts (any value: the RFC defines only "No"). Stops at the
/// first empty line; chunks may split lines anywhere. A struct kept in the pooled writer: no allocation.
/// </summary>
internal struct TlsRequiredHeaderScanner
{
    private const int InLine = -1;
    private const int AfterName = -2;
    private const int CrAtLineStart = -3;
    private const int Done = -4;

    /// <summary>0 to <see cref="Name"/>.Length - 1: how much of the name the current line matched so far; or one of the constants.</summary>
    private int _state;

    private static ReadOnlySpan<byte> Name => "tls-required"u8;

    /// <summary>A TLS-Required field was in the header section.</summary>
    public bool Found { get; private set; }

    public void Reset()
    {
        _state = 0;
        Found = false;
    }

    public void Feed(ReadOnlySpan<byte> data)
    {
        for (var i = 0; i < data.Length && _state != Done; i++)
        {
            var b = data[i];
            switch (_state)
            {
                case InLine:
                {
                    // The rest of a line (a field's value, a folded continuation) is skipped whole.
                    var lf = data[i..].IndexOf((byte)'\n');
                    if (lf < 0)
                    {
                        return;
                    }

                    i += lf;
                    _state = 0;
                    break;
                }

                case CrAtLineStart:
                    // CRLF alone: the empty line that ends the header section (RFC 5322 section 2.1).
                    _state = b == '\n' ? Done : InLine;
                    break;

                case AfterName:
                    // RFC 5322 section 4.5.3 (obsolete syntax) allows white space before the colon.
                    if (b == ':')
                    {
                        Found = true;
                        _state = Done;
                    }
                    else if (b is not ((byte)' ' or (byte)'\t'))
                    {
                        _state = b == '\n' ? 0 : InLine;
                    }

                    break;

                default:
                    if (_state == 0 && b == '\r')
                    {
                        _state = CrAtLineStart;
                    }
                    else if (_state == 0 && b == '\n')
                    {
                        _state = Done;
                    }
                    else if ((b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b) == Name[_state])
                    {
                        _state = _state + 1 == Name.Length ? AfterName : _state + 1;
                    }
                    else
                    {
                        _state = b == '\n' ? 0 : InLine;
                    }

                    break;
            }
        }
    }
}
