namespace Tern.Dsn.Tests;

public class DsnPolicyTests
{
    public static TheoryData<DsnKind, DsnNotify, bool, bool> Table => new()
    {
        // No NOTIFY: FAILURE,DELAY (RFC 3461 4.1).
        { DsnKind.Failure, DsnNotify.Unspecified, false, true },
        { DsnKind.Delay, DsnNotify.Unspecified, false, true },
        { DsnKind.Success, DsnNotify.Unspecified, false, false },

        // NOTIFY=NEVER: nothing.
        { DsnKind.Failure, DsnNotify.Never, false, false },
        { DsnKind.Delay, DsnNotify.Never, false, false },
        { DsnKind.Success, DsnNotify.Never, false, false },
        { DsnKind.Failure, DsnNotify.Never | DsnNotify.Failure, false, false },

        // Exactly what was asked for.
        { DsnKind.Success, DsnNotify.Success, false, true },
        { DsnKind.Failure, DsnNotify.Success, false, false },
        { DsnKind.Delay, DsnNotify.Success, false, false },
        { DsnKind.Failure, DsnNotify.Failure, false, true },
        { DsnKind.Delay, DsnNotify.Failure, false, false },
        { DsnKind.Success, DsnNotify.Failure, false, false },
        { DsnKind.Delay, DsnNotify.Delay, false, true },
        { DsnKind.Failure, DsnNotify.Delay, false, false },
        { DsnKind.Failure, DsnNotify.Failure | DsnNotify.Delay, false, true },
        { DsnKind.Delay, DsnNotify.Failure | DsnNotify.Delay, false, true },
        { DsnKind.Success, DsnNotify.Failure | DsnNotify.Delay, false, false },
        { DsnKind.Success, DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay, false, true },

        // Never to the null sender: no DSN about a DSN.
        { DsnKind.Failure, DsnNotify.Unspecified, true, false },
        { DsnKind.Failure, DsnNotify.Failure, true, false },
        { DsnKind.Delay, DsnNotify.Delay, true, false },
        { DsnKind.Success, DsnNotify.Success, true, false },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Notify_follows_RFC_3461(DsnKind kind, DsnNotify notify, bool nullSender, bool expected)
    {
        Assert.Equal(expected, DsnPolicy.ShouldNotify(kind, notify, nullSender));
        Assert.Equal(expected, DsnPolicy.ShouldNotify(kind, (byte)notify, nullSender));
    }

    [Fact]
    public void Byte_values_are_those_of_the_spool()
    {
        // Tern.Spool.StoredNotify: Never=1, Success=2, Failure=4, Delay=8.
        Assert.Equal(1, (byte)DsnNotify.Never);
        Assert.Equal(2, (byte)DsnNotify.Success);
        Assert.Equal(4, (byte)DsnNotify.Failure);
        Assert.Equal(8, (byte)DsnNotify.Delay);
        Assert.Equal(1, (byte)DsnRet.Full);
        Assert.Equal(2, (byte)DsnRet.Headers);
    }

    [Theory]
    [InlineData(DsnKind.Failure, DsnRet.Full, true)]
    [InlineData(DsnKind.Failure, DsnRet.Headers, false)]
    [InlineData(DsnKind.Failure, DsnRet.Unspecified, false)]
    [InlineData(DsnKind.Delay, DsnRet.Full, false)]
    [InlineData(DsnKind.Success, DsnRet.Full, false)]
    public void Only_a_failure_with_RET_FULL_returns_the_message(DsnKind kind, DsnRet ret, bool expected) =>
        Assert.Equal(expected, DsnPolicy.ReturnsFullMessage(kind, ret));
}
