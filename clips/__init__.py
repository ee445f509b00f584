"""The media stage: plan the clips the selected drafts need (`stage.plan_media`, batches named by content) and cut
them (`stage.cut_batch`, each clip cached by its content key with its probe or error), and the record of where
each clip was cut from that reference releases keep (`stage.clip_spec_record`)."""
