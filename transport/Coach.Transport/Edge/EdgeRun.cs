using System.Net;
using Coach.Transport.Protocol;

namespace Coach.Transport.Edge;

/// <summary>
/// One whole edge run on a plan directory: opens the head, connects and shakes hands with the
/// cloud (unless the plan is edge-only), runs the pipeline, and returns the summary with the
/// pipeline (for its per-frame records). What <c>coach-edge run</c> does, as a library call.
/// A cloud unreachable at start does not stop the edge: it answers with the full-model fallback
/// and connects in the background with the reconnect backoff; a handshake the cloud refuses for
/// good (<see cref="HandshakeRejectedException.IsRefusedForGood"/>) is thrown to the caller.
/// </summary>
public static class EdgeRun
{
    public static async Task<(EdgeRunSummary Summary, EdgePipeline Pipeline)> RunAsync(
        PlanDirectory plan, IFrameSource source, IFrameScheduler scheduler, EdgeRunOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(options);
        using EdgeHead head = EdgeHead.Open(plan, Math.Max(1, options.Slots), options.HeadSettings, options.FullModelPath);

        // A session's first runs allocate and choose kernels (TensorRT builds engines): warm every slot before the clock starts.
        foreach (HeadSlot slot in head.Slots)
        {
            slot.Run();
        }

        EdgeClient? client = null;
        FallbackModel? fallback = null;
        Func<CancellationToken, Task<EdgeClient>>? connect = null;
        if (!plan.IsEdgeOnly)
        {
            if (options.Cloud is null)
            {
                throw new ArgumentException($"{plan} sends cut tensors to a cloud; give the cloud's address (--cloud ADDR:PORT)", nameof(options));
            }

            var hello = new HelloMessage
            {
                ClientId = options.ClientId,
                ModelSha256 = plan.ModelSha256,
                PlanId = plan.Id,
                PlanHash = plan.PlanHash,
                TailName = Path.GetFileName(plan.DirectoryPath),
            };
            EndPoint cloud = options.Cloud;
            connect = ct => EdgeClient.ConnectAsync(cloud, hello, Connections.ConnectionOptions.For(WireLimits.Default, options.Shaper), handshakeTimeout: options.HandshakeTimeout, key: options.Key, tls: options.Tls, cancellationToken: ct);
            string? fullModel = options.FullModelPath ?? plan.ModelPath;
            if (options.Fallback && fullModel is not null)
            {
                fallback = FallbackModel.Open(fullModel, options.HeadSettings);
            }
            else if (options.Fallback)
            {
                options.Log($"edge: no full model for an edge-only fallback (plan.json has no model.path that exists, no --full-model); frames the cloud cannot answer end as failed");
            }

            try
            {
                client = await connect(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (options.Reconnect && IsFaultAtStart(e, cancellationToken))
            {
                // An unreachable cloud is a fault the edge rides out like a lost connection; a refused
                // handshake (wrong key, plan, model, version) is a configuration error and ends the run below.
                options.Log($"edge: cannot reach the cloud at {cloud} ({e.Message}); starting on the edge{(fallback is null ? " (no full model: frames fail until connected)" : " with the full-model fallback")} and connecting in the background");
            }
            catch (Exception)
            {
                fallback?.Dispose();
                throw;
            }
        }

        EdgePipeline? pipeline = null;
        try
        {
            pipeline = new EdgePipeline(plan, head, source, scheduler, client, options, fallback, options.Reconnect ? connect : null);
            EdgeRunSummary summary = await pipeline.RunAsync(cancellationToken).ConfigureAwait(false);
            return (summary, pipeline);
        }
        finally
        {
            EdgeClient? current = pipeline?.CurrentClient;
            if (current is not null && !ReferenceEquals(current, client))
            {
                await current.DisposeAsync().ConfigureAwait(false);
            }

            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            fallback?.Dispose();
        }
    }

    /// <summary>
    /// A first connection that failed for a reason that may pass (refused, reset, timed out, link
    /// down, cloud busy) rather than a handshake the cloud refuses for good or nonsense from the peer.
    /// </summary>
    private static bool IsFaultAtStart(Exception error, CancellationToken cancellationToken) => error switch
    {
        OperationCanceledException => !cancellationToken.IsCancellationRequested, // the handshake deadline, not the caller
        HandshakeRejectedException => !HandshakeRejectedException.IsRefusedForGood(error),
        Coach.Transport.Protocol.ProtocolViolationException => false, // something that does not speak the protocol answers at that address
        System.Net.Sockets.SocketException or IOException or TimeoutException => true,
        _ => false,
    };
}
