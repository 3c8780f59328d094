namespace Coach.Transport.Edge;

internal sealed partial class EdgeCloudLink
{
    // A connection whose cloud said Goodbye (ShuttingDown): its requests are still being answered there,
    // while new frames wait for the next connection (docs/protocol.md §1.7).
    private EdgeClient? _retiring;
    private int _retiringEpoch;
    private TaskCompletionSource? _handover;

    /// <summary>
    /// The cloud of <paramref name="epoch"/> said Goodbye (ShuttingDown), docs/protocol.md §1.7: it
    /// still answers what was sent to it. The edge stops sending there, says its own Goodbye, and
    /// connects again at once (through a load balancer, to another cloud); frames taken meanwhile wait
    /// for that connection instead of failing, so a rolling restart loses no frame.
    /// </summary>
    private void BeginHandover(int epoch, string message)
    {
        EdgeClient? retiring;
        lock (_linkGate)
        {
            if (epoch != _epoch || !_connected || _client is null)
            {
                return;
            }

            retiring = _client;
            if (_reconnect is not null)
            {
                _connected = false;
                _retiring = retiring;
                _retiringEpoch = epoch;
                _handover = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        _options.Log($"edge: the cloud is shutting down ({message}); {(_reconnect is null ? "no reconnect: frames after its close are answered on the edge" : "its answers still come, new frames wait for the next connection")}");
        if (_reconnect is null)
        {
            return;
        }

        Track(Task.Run(async () =>
        {
            await SayGoodbyeAsync(retiring).ConfigureAwait(false);
            await ReconnectAsync(_lifetime.Token, immediate: true).ConfigureAwait(false);
        }, CancellationToken.None));
    }

    /// <summary>Tells the retiring connection's cloud that nothing more comes on it (it then closes once it has answered).</summary>
    private async Task SayGoodbyeAsync(EdgeClient client)
    {
        try
        {
            await _sendLock.WaitAsync(_lifetime.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        try
        {
            await client.SendGoodbyeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ObjectDisposedException)
        {
            // Already closed: its close settles the frames sent on it.
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Frames waiting for the next connection stop waiting (it came, or will not come soon).</summary>
    private void EndHandover()
    {
        TaskCompletionSource? handover;
        lock (_linkGate)
        {
            handover = _handover;
            _handover = null;
        }

        handover?.TrySetResult();
    }
}
