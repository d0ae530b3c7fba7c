using Tern.Load.Send;

namespace Tern.Load.Tests.Send;

/// <summary><c>tern-load send</c> refuses bad options before it connects anywhere: exit 2 and a line saying what is wrong.</summary>
public sealed class SendOptionTests
{
    [Theory]
    [InlineData("--target 192.0.2.1:25", "not a loopback address")]
    [InlineData("--target localhost", "HOST:PORT")]
    [InlineData("--target 127.0.0.1:0", "HOST:PORT")]
    [InlineData("--target 127.0.0.1:2525 --sessions 0", "--sessions")]
    [InlineData("--target 127.0.0.1:2525 --messages 0", "--messages")]
    [InlineData("--target 127.0.0.1:2525 --size 1x", "--size")]
    [InlineData("--target 127.0.0.1:2525 --size 1k:70,,10k:30", "--size")]
    [InlineData("--target 127.0.0.1:2525 --size 1k:0", "weight")]
    [InlineData("--target 127.0.0.1:2525 --size 65m", "--size")]
    [InlineData("--target 127.0.0.1:2525 --rcpt-domains exa_mple.test", "--rcpt-domains")]
    [InlineData("--target 127.0.0.1:2525 --rcpt-domains [300.0.0.1]", "IPv4 address literal")]
    [InlineData("--target 127.0.0.1:2525 --rcpt-domains [127.1]", "IPv4 address literal")]
    [InlineData("--target 127.0.0.1:2525 --duration 10x", "--duration")]
    [InlineData("--target 127.0.0.1:2525 --timeout 0s", "--timeout")]
    [InlineData("--target 127.0.0.1:2525 --recipients 0", "--recipients")]
    [InlineData("--target 127.0.0.1:2525 --from nobody", "--from")]
    [InlineData("--target 127.0.0.1:2525 --pipelining maybe", "--pipelining")]
    [InlineData("--target 127.0.0.1:2525 --chunking yes", "--chunking")]
    [InlineData("--target 127.0.0.1:2525 --window 0", "--window")]
    [InlineData("--target 127.0.0.1:2525 --window 4 --pipelining off", "needs pipelining")]
    [InlineData("--target 127.0.0.1:2525 --per-connection -1", "--per-connection")]
    [InlineData("--target 127.0.0.1:2525 --auth user:pass", "--starttls")]
    [InlineData("--target 127.0.0.1:2525 --auth nocolon --allow-plain-auth", "USER:PASS")]
    [InlineData("--target 127.0.0.1:2525 --rate -5", "--rate")]
    [InlineData("--target 127.0.0.1:2525 --model open", "needs --rate")]
    [InlineData("--target 127.0.0.1:2525 --model half", "--model")]
    public async Task Bad_options_exit_2_with_a_reason(string args, string reason)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await LoadCommandLine.RunAsync(["send", .. args.Split(' ')], stdout, stderr);
        Assert.Equal(2, code);
        Assert.Contains(reason, stderr.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("tern-load: ", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Target_is_required()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, await LoadCommandLine.RunAsync(["send"], new StringWriter(), stderr));
        Assert.Contains("--target", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_recipient_domain_may_be_an_address_literal()
    {
        Assert.True(SendSettings.TryParseDomain("[127.0.0.2]", out var domain, out var error), error);
        Assert.Equal("[127.0.0.2]", domain);
    }
}
