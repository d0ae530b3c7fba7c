using System.Buffers;
using System.Buffers.Text;
using System.Security.Authentication;
using Tern.Fuzz.Support;
using Tern.Sasl;
using Tern.Sasl.ChannelBindings;
using Tern.Sasl.Credentials;
using Tern.Smtp.Protocol;

namespace Tern.Fuzz.Targets;

/// <summary>
/// AUTH (RFC 4954) as SmtpSession.Auth runs it: the first command line is the AUTH argument
/// ("MECHANISM [initial-response]", "=" for an empty one), each further line a base64 response or
/// "*" to cancel, all through the SASL servers (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256 and -PLUS)
/// against a real account store. Bad input may only come back as a <see cref="SaslFailure"/>.
/// </summary>
internal static class AuthTarget
{
    private static readonly Lazy<SaslServerFactory> Factory = new(CreateFactory);

    public static void Run(ReadOnlySpan<byte> input)
    {
        var flags = input.IsEmpty ? 0 : input[0];
        // TLS with tls-exporter (TLS 1.3) or tls-unique (TLS 1.2) bindings, or none, as the session's SaslChannel.
        var channel = (flags & 3) switch
        {
            0 => SaslChannel.Tls(ChannelBinding.TlsExporter(new byte[ChannelBinding.TlsExporterLength], SslProtocols.Tls13)),
            1 => SaslChannel.Tls(ChannelBinding.TlsUnique(new byte[12], SslProtocols.Tls12)),
            2 => SaslChannel.Tls(null),
            _ => SaslChannel.Plaintext,
        };

        var lines = Lines(input);
        if (lines.Count == 0)
        {
            return;
        }

        var arg = Ascii(lines[0]);
        var space = arg.IndexOf((byte)' ');
        var mechanism = space < 0 ? arg : arg[..space];
        var initial = space < 0 ? default : arg[(space + 1)..].Trim((byte)' ');
        if (mechanism.IsEmpty || mechanism.Length > 32 || !Factory.Value.TryCreate(System.Text.Encoding.ASCII.GetString(mechanism), channel, out var sasl))
        {
            return;
        }

        var step = space < 0 ? sasl.Start()
            : initial.Length == 1 && initial[0] == '=' ? sasl.Step(default)
            : Decode(sasl, initial);
        for (var i = 1; i < lines.Count && step.Status == SaslStatus.Continue; i++)
        {
            FuzzInvariantException.Check(step.Challenge is not null, "Continue without a challenge");
            var line = lines[i];
            if (line.Length == 1 && line[0] == '*')
            {
                step = sasl.Abort();
                FuzzInvariantException.Check(step.Status == SaslStatus.Failure, "abort did not fail the attempt");
                break;
            }

            step = Decode(sasl, line);
        }

        FuzzInvariantException.Check(Enum.IsDefined(step.Status) && Enum.IsDefined(step.Failure), "unknown status or failure value");
        FuzzInvariantException.Check(step.Status != SaslStatus.Success || step.Username is not null, "success without a user");
        FuzzInvariantException.Check(step.Status != SaslStatus.Failure || step.Failure != SaslFailure.None, "failure without a reason");
    }

    /// <summary>What SmtpSession.DecodeAndStep does: strict base64, or the attempt is over (501).</summary>
    private static SaslServerStep Decode(SaslServer sasl, ReadOnlySpan<byte> base64)
    {
        var buffer = new byte[Math.Max(Base64.GetMaxDecodedFromUtf8Length(base64.Length), 1)];
        if (Base64.DecodeFromUtf8(base64, buffer, out var consumed, out var written) != OperationStatus.Done || consumed != base64.Length)
        {
            return sasl.Abort();
        }

        return sasl.Step(buffer.AsSpan(0, written));
    }

    private static ReadOnlySpan<byte> Ascii(byte[] line) => line.AsSpan().Trim((byte)' ');

    private static List<byte[]> Lines(ReadOnlySpan<byte> input)
    {
        var lines = new List<byte[]>();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(input.IsEmpty ? [] : input[1..].ToArray()));
        var scratch = new byte[4096];
        var skipping = false;
        while (SmtpCommandParser.TryReadLine(ref reader, scratch, out var line, ref skipping) is var status && status != LineStatus.NeedMoreData)
        {
            if (status == LineStatus.Line)
            {
                lines.Add(line.ToArray());
            }
        }

        return lines;
    }

    private static SaslServerFactory CreateFactory()
    {
        // One account for every mechanism (CRAM-MD5 needs its own secret), in a private temporary store.
        var store = AccountStore.Open(Path.Combine(TempDirectory.Create("tern-fuzz-auth-"), "accounts"));
        store.Add("user", "pass", new AccountOptions { CramMd5 = true, Iterations = AccountStore.MinIterations });
        return new SaslServerFactory(store, new SaslServerOptions { Mechanisms = SaslMechanisms.All, Hostname = "fuzz.example" });
    }
}
